"""Every URL, every persona. Generated from the URL list: a view missing from MATRIX fails the suite.

Personas: admin (owner), member, viewer, outsider (a user of another project), anonymous; API keys:
ingest-only, read, revoked, and a read key of another project.
"""
import pytest
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from ingest.models import IngestBatch
from tests.otlp_builders import agent_trace, request
from tracing.models import ApiKey, Membership, Project, RedactionRule

PAGE, API, INGEST, PUBLIC, LOGGED_IN = "page", "api", "ingest", "public", "logged-in"
V, M, A = Membership.VIEWER, Membership.MEMBER, Membership.ADMIN

# url name → (kind, minimum role for pages)
MATRIX = {
    "otlp-traces": (INGEST, None), "otlp-traces-langfuse": (INGEST, None),
    "login": (PUBLIC, None), "logout": (LOGGED_IN, None), "password-change": (LOGGED_IN, None), "home": (LOGGED_IN, None),
    "runs": (PAGE, V), "run": (PAGE, V), "run-step": (PAGE, V), "run-step-value": (PAGE, V), "session": (PAGE, V),
    "diff": (PAGE, V), "spend": (PAGE, V), "ingest-health": (PAGE, V), "connect": (PAGE, V), "connect-status": (PAGE, V),
    "settings": (PAGE, V),
    # view_id is the admin's own view: only its owner may delete it (members: their own, see test_saved_views)
    "saved-view-save": (PAGE, M), "saved-view-delete": (PAGE, A),
    "run-export": (PAGE, M), "bulk-export": (PAGE, M), "import-runs": (PAGE, M),
    "redrive-batch": (PAGE, A), "settings-retention": (PAGE, A), "settings-keys": (PAGE, A),
    "settings-revoke-key": (PAGE, A), "settings-members": (PAGE, A), "settings-member-role": (PAGE, A),
    "settings-redaction": (PAGE, A), "settings-delete-rule": (PAGE, A), "settings-audit": (PAGE, A),
    "api-runs": (API, None), "api-run": (API, None), "api-diff": (API, None), "api-spend": (API, None),
    "api-run-export": (API, None), "api-bulk-export": (API, None),
}


def all_urls(patterns=None, prefix=""):
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            yield from all_urls(p.url_patterns, prefix + str(p.pattern))
        else:
            yield p.name, prefix + str(p.pattern)


URLS = sorted(set(all_urls()))


def test_every_url_has_a_permission_entry():
    missing = sorted(name for name, _ in URLS if name not in MATRIX)
    assert not missing, f"add these views to the permission MATRIX with their access rule: {missing}"
    stale = sorted(set(MATRIX) - {name for name, _ in URLS})
    assert not stale, f"MATRIX names that no longer exist: {stale}"


@pytest.fixture
def world(client, project, django_user_model):
    """acme with admin/member/viewer, an outsider with their own project, a run, keys, a failed batch, a rule."""
    users = {}
    for name, role in (("ada", A), ("mel", M), ("vic", V)):
        users[role] = django_user_model.objects.create_user(name, password="pw")
        Membership.objects.create(user=users[role], project=project, role=role)
    other = Project.objects.create(name="Other", slug="other")
    outsider = django_user_model.objects.create_user("oscar", password="pw")
    Membership.objects.create(user=outsider, project=other, role=A)
    keys = {
        "ingest": ApiKey.issue(project, scopes=[ApiKey.INGEST])[1],
        "read": ApiKey.issue(project, scopes=[ApiKey.READ])[1],
        "revoked": ApiKey.issue(project, scopes=[ApiKey.INGEST, ApiKey.READ])[1],
        "other_read": ApiKey.issue(other, scopes=[ApiKey.READ])[1],
    }
    ApiKey.objects.filter(name="default", key_hash__isnull=False).exclude(project=other).filter(
        id=ApiKey.lookup(keys["revoked"]).id).update(revoked_at=timezone.now())
    trace_id, spans = agent_trace()
    assert client.post("/v1/traces", data=request(spans), content_type="application/x-protobuf",
                       HTTP_AUTHORIZATION=f"Bearer {keys['ingest']}").status_code == 200
    from tracing.models import Step

    step = Step.objects.filter(trace_id=trace_id).first()
    batch = IngestBatch.objects.create(project=project, encoding="protobuf", body=b"", status=IngestBatch.FAILED)
    rule = RedactionRule.objects.create(project=project, name="r", pattern="x+y")
    from tracing.models import SavedView

    view_ids = {role: SavedView.objects.create(user=u, project=project, name="mine").id for role, u in users.items()}
    kwargs = {"slug": "acme", "trace_id": trace_id, "span_id": step.span_id, "batch_id": batch.id,
              "key_id": ApiKey.lookup(keys["read"]).id, "membership_id": Membership.objects.get(user=users[V]).id,
              "rule_id": rule.id, "view_id": view_ids[A]}
    query = f"?a={trace_id}&b={trace_id}&id=conv&session={step.session_id or 'x'}"
    return {"users": users, "outsider": outsider, "keys": keys, "kwargs": kwargs, "query": query}


def build_url(pattern, kwargs, query):
    import re

    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), pattern)
    return path + query


def call(client, url, **headers):
    response = client.get(url, **headers)
    if response.status_code == 405:
        response = client.post(url, {}, **headers)
    return response


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name,pattern", [u for u in URLS if MATRIX.get(u[0], (None,))[0] in (PAGE, API)],
                         ids=[u[0] for u in URLS if MATRIX.get(u[0], (None,))[0] in (PAGE, API)])
def test_access_rules(client, world, name, pattern):
    kind, min_role = MATRIX[name]
    url = build_url(pattern, world["kwargs"], world["query"])
    if kind == API:
        assert call(client, url).status_code == 401, "anonymous"
        assert call(client, url, HTTP_AUTHORIZATION=f"Bearer {world['keys']['ingest']}").status_code == 403, "ingest key"
        assert call(client, url, HTTP_AUTHORIZATION=f"Bearer {world['keys']['revoked']}").status_code == 401, "revoked"
        if "trace_id" in pattern or name == "api-diff":
            other = call(client, url, HTTP_AUTHORIZATION=f"Bearer {world['keys']['other_read']}")
            assert other.status_code == 404, "another project's read key sees nothing"
        client.force_login(world["outsider"])
        assert call(client, url + "&project=acme").status_code == 404, "outsider session"
        client.logout()
        ok = call(client, url, HTTP_AUTHORIZATION=f"Bearer {world['keys']['read']}")
        assert ok.status_code == 200, f"read key: {ok.status_code} {ok.content[:200]}"
        return
    anonymous = call(client, url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/"), "anonymous"
    client.force_login(world["outsider"])
    assert call(client, url).status_code == 404, "outsider"
    order = [V, M, A]
    for role in order:
        client.force_login(world["users"][role])
        status = call(client, url).status_code
        if order.index(role) < order.index(min_role):
            assert status == 404, f"{role} must not reach {name}"
        else:
            assert status < 400, f"{role} should reach {name}, got {status}"
