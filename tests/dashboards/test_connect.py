"""The "Connect an agent" page: the endpoint from the request host, recipes, and the arrival indicator."""
import html
import re

import pytest
from django.utils import timezone

from tests.otlp_builders import agent_trace, request
from tests.tracing.test_export_hostile_run import ingest
from tracing.models import ApiKey, Membership


def snippet(page_html, recipe_id) -> str:
    """The text of the first snippet of a recipe section, as a user would copy it."""
    section = re.search(rf'<section class="recipe card" id="{recipe_id}">(.*?)</section>', page_html, re.S).group(1)
    return html.unescape(re.search(r'<pre class="snippet"[^>]*>(.*?)</pre>', section, re.S).group(1))


@pytest.fixture
def page(client, alice):
    client.force_login(alice)
    return client.get("/p/acme/connect/", HTTP_HOST="traces.example.com:8443", secure=True).content.decode()


def test_endpoint_is_built_from_the_request_host(page, settings):
    assert "https://traces.example.com:8443/v1/traces" in page
    assert "https://traces.example.com:8443/api/public/otel/v1/traces" in page


@pytest.fixture(autouse=True)
def _allowed_hosts(settings):
    settings.ALLOWED_HOSTS = ["traces.example.com", "testserver", "localhost"]


def test_every_recipe_has_the_endpoint_filled_in(page):
    base = "https://traces.example.com:8443"
    assert f'sdk.configure("{base}", api_key="<API key>"' in snippet(page, "sdk")
    env = snippet(page, "otel-env")
    assert f"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={base}/v1/traces" in env
    assert 'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20<API key>"' in env
    assert f'endpoint="{base}/v1/traces"' in snippet(page, "openinference")
    # Traceloop appends /v1/traces to api_endpoint itself, so it gets the base URL.
    assert f'api_endpoint="{base}"' in snippet(page, "openllmetry")
    langfuse = snippet(page, "langfuse")
    assert f"LANGFUSE_HOST={base}" in langfuse and 'LANGFUSE_SECRET_KEY="<API key>"' in langfuse
    assert f"examples/agent_loop.py --endpoint {base}" in html.unescape(page)


def test_links_to_key_management_and_lists_active_keys_by_prefix_only(client, alice, project):
    key, raw = ApiKey.issue(project, name="laptop")
    client.force_login(alice)
    page = client.get("/p/acme/connect/").content.decode()
    assert 'href="/p/acme/settings/keys/"' in page
    assert key.prefix in page and "laptop" in page and raw not in page


def test_viewers_see_the_page_and_outsiders_do_not(client, alice, project):
    from django.contrib.auth import get_user_model

    carol = get_user_model().objects.create_user("carol", password="x")
    client.force_login(carol)
    assert client.get("/p/acme/connect/").status_code == 404
    Membership.objects.create(user=carol, project=project, role=Membership.VIEWER)
    page = client.get("/p/acme/connect/")
    assert page.status_code == 200 and "/p/acme/import/" not in page.content.decode()  # members+ only
    client.force_login(alice)
    assert "/p/acme/import/" in client.get("/p/acme/connect/").content.decode()


def test_waiting_indicator_polls_until_a_run_arrives_then_links_to_it(
        client, alice, project, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    client.force_login(alice)
    page = client.get("/p/acme/connect/").content.decode()
    assert "Waiting for the first span…" in page
    poll = re.search(r'hx-get="([^"]+)" hx-trigger="every 2s" hx-swap="outerHTML"', page).group(1)
    url = html.unescape(poll)
    assert "hx-on" not in page and "<script>" not in page  # the CSP forbids inline script

    with django_assert_max_num_queries(8):
        waiting = client.get(url).content.decode()
    assert "Waiting for the first span…" in waiting and "hx-trigger" in waiting

    trace_id, spans = agent_trace()
    ingest(project, request(spans), django_capture_on_commit_callbacks)
    arrived = client.get(url).content.decode()
    assert "Spans are arriving" in arrived and f'href="/p/acme/runs/{trace_id}/"' in arrived
    assert "hx-trigger" not in arrived  # polling stops


def test_with_older_runs_it_waits_for_new_spans_and_links_the_latest(client, alice, project,
                                                                       django_capture_on_commit_callbacks):
    trace_id, spans = agent_trace()
    ingest(project, request(spans), django_capture_on_commit_callbacks)
    client.force_login(alice)
    status = client.get("/p/acme/connect/status/", {"since": timezone.now().isoformat()}).content.decode()
    assert "Waiting for new spans…" in status and f"/p/acme/runs/{trace_id}/" in status
    assert "hx-trigger" in status
