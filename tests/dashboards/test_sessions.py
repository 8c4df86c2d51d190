"""The session page: the runs sharing a session id, in order, with per-run and total figures."""
import re
from decimal import Decimal

import pytest

from tests.dashboards.explorer_data import fast_passwords, make_run  # noqa: F401 (autouse)
from tracing.models import Project, Run


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def url(session_id):
    from urllib.parse import quote

    return f"/p/acme/session/?id={quote(session_id, safe='')}"


def test_runs_in_start_order_with_totals(logged_in, project):
    second, _ = make_run(project, session="conv-1", start_ms=5000, input_tokens=300, output_tokens=30, error=True)
    first, _ = make_run(project, session="conv-1", start_ms=0, input_tokens=100, output_tokens=10)
    make_run(project, session="conv-2")
    unpriced, _ = make_run(project, session="conv-1", start_ms=9000, model="nobody-knows", provider="acme")
    response = logged_in.get(url("conv-1"))
    html = response.content.decode()
    assert re.findall(r'<tr id="run-([0-9a-f]{32})"', html) == [first, second, unpriced]
    totals = response.context["totals"]
    runs = Run.objects.filter(session_id="conv-1")
    assert totals["runs"] == 3 and totals["input_tokens"] == 1400 and totals["errors"] == 2
    assert totals["cost_usd"] == sum((r.cost_usd for r in runs if r.cost_usd is not None), Decimal(0))
    assert totals["unpriced_calls"] == 1 and "+1 unpriced call" in html


def test_hostile_session_id_round_trips_and_is_escaped(logged_in, project):
    hostile = "s/../<script>alert(1)</script>?x=1#y\n{{ 1 }}"
    trace_id, _ = make_run(project, session=hostile)
    runs_page = logged_in.get("/p/acme/runs/").content.decode()
    link = re.search(r'href="(/p/acme/session/\?id=[^"]+)"', runs_page).group(1)
    html = logged_in.get(link.replace("&amp;", "&")).content.decode()
    assert trace_id in html and "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_unknown_session_is_empty_and_no_session_is_404(logged_in, project):
    make_run(project)  # a run without a session must not make "" a session
    response = logged_in.get(url("nope"))
    assert response.status_code == 200 and "No runs with this session id" in response.content.decode()
    assert logged_in.get("/p/acme/session/").status_code == 404
    assert logged_in.get("/p/acme/session/?id=").status_code == 404


def test_other_projects_session_is_404(client, alice, project):
    other = Project.objects.create(name="Other", slug="other")
    make_run(other, session="theirs")
    client.force_login(alice)
    assert "run-" not in client.get(url("theirs")).content.decode().split("<tbody>")[1]
    assert client.get("/p/other/session/?id=theirs").status_code == 404


def test_query_budget(logged_in, project, django_assert_max_num_queries):
    for i in range(20):
        make_run(project, session="long", start_ms=i)
    with django_assert_max_num_queries(8):
        assert logged_in.get(url("long")).status_code == 200
