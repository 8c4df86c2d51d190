"""Keys do only what they are for; admins manage members; logins are throttled; everything is audited."""
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from ingest.models import IngestBatch
from tests.otlp_builders import agent_trace, request
from tracing.models import ApiKey, AuditEvent, Membership, Project, Run, Step
from tracing.retention import purge_expired

PB = "application/x-protobuf"


def ingest(client, key, spans=None):
    return client.post("/v1/traces", data=request(spans or agent_trace()[1]), content_type=PB,
                       HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.django_db
def test_admin_creates_a_key_that_is_shown_once_and_stored_hashed(client, alice, project):
    client.force_login(alice)
    page = client.post("/p/acme/settings/keys/", {"name": "ci", "scopes": ["ingest"]})
    raw = page.context["new_key"]
    assert raw.startswith("st_") and raw in page.content.decode()
    key = ApiKey.objects.get(name="ci")
    assert key.key_hash != raw and raw not in str(ApiKey.objects.filter(id=key.id).values().get())
    assert key.scopes == ["ingest"]
    assert raw not in client.get("/p/acme/settings/keys/").content.decode()  # never shown again
    assert AuditEvent.objects.filter(action="api_key_created", project=project).exists()


@pytest.mark.django_db(transaction=True)
def test_revoked_key_stops_working_and_revocation_is_audited(client, alice, project, api_key):
    assert ingest(client, api_key).status_code == 200
    key = ApiKey.objects.get(project=project)
    assert key.last_used_at is not None
    client.force_login(alice)
    client.post(f"/p/acme/settings/keys/{key.id}/revoke/")
    assert ingest(client, api_key).status_code == 401
    assert AuditEvent.objects.filter(action="api_key_revoked").count() == 1


@pytest.mark.django_db
def test_ingest_key_cannot_read_and_read_key_cannot_ingest(client, project):
    _, ingest_only = ApiKey.issue(project, scopes=[ApiKey.INGEST])
    _, read_only = ApiKey.issue(project, scopes=[ApiKey.READ])
    assert ingest(client, read_only).status_code == 403
    assert client.get("/api/v1/runs", HTTP_AUTHORIZATION=f"Bearer {ingest_only}").status_code == 403


@pytest.mark.django_db
def test_admin_adds_a_new_user_with_a_one_time_password_and_changes_roles(client, alice, project):
    client.force_login(alice)
    page = client.post("/p/acme/settings/members/", {"username": "bob", "role": "viewer"})
    password = page.context["new_password"]
    bob = Membership.objects.get(user__username="bob", project=project)
    assert bob.role == "viewer"
    client.post(f"/p/acme/settings/members/{bob.id}/", {"role": "member"})
    bob.refresh_from_db()
    assert bob.role == "member"
    assert AuditEvent.objects.filter(action="role_changed", target="bob").exists()
    client.logout()
    assert client.login(username="bob", password=password)


@pytest.mark.django_db
def test_last_admin_cannot_be_demoted(client, alice, project):
    client.force_login(alice)
    membership = Membership.objects.get(user=alice)
    response = client.post(f"/p/acme/settings/members/{membership.id}/", {"role": "viewer"}, follow=True)
    assert "at least one admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "admin"


@pytest.mark.django_db
def test_member_cannot_reach_admin_pages(client, project, django_user_model):
    carol = django_user_model.objects.create_user("carol", password="x")
    Membership.objects.create(user=carol, project=project, role=Membership.MEMBER)
    client.force_login(carol)
    for path in ("keys/", "members/", "redaction/", "audit/"):
        assert client.get(f"/p/acme/settings/{path}").status_code == 404
    assert client.get("/p/acme/settings/").status_code == 200


@pytest.mark.django_db
def test_logins_are_throttled_after_repeated_failures_and_audited(client, alice, settings):
    settings.SAGATRACE_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        client.post("/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/login/", {"username": "alice", "password": "alice-password"})
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="login_failed", target="alice").count() == 3
    AuditEvent.objects.filter(action="login_failed").update(at=timezone.now() - timedelta(hours=1))
    client.post("/login/", {"username": "alice", "password": "alice-password"})
    assert client.session["_auth_user_id"] == str(alice.id)
    assert AuditEvent.objects.filter(action="login", target="alice").exists()


@pytest.mark.django_db(transaction=True)
def test_per_key_rate_limit_answers_429_with_retry_after(client, api_key, settings, monkeypatch):
    settings.SAGATRACE_INGEST_RATE_PER_KEY = 2
    clock = [1_900_000_000.2]
    monkeypatch.setattr("ingest.ratelimit.time.time", lambda: clock[0])  # the wall clock, pinned to one window
    responses = [ingest(client, api_key) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2]["Retry-After"] == "1"
    clock[0] += 1  # the next second: allowed again
    assert ingest(client, api_key).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_keys_never_appear_in_logs(client, api_key, caplog):
    with caplog.at_level(logging.DEBUG):
        ingest(client, api_key)
        ingest(client, api_key + "x")
        client.get("/api/v1/runs", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert api_key[6:] not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_retention_deletes_expired_runs_steps_and_old_raw_batches_only(client, api_key, project, settings):
    old_trace, old_spans = agent_trace()
    new_trace, new_spans = agent_trace()
    ingest(client, api_key, old_spans)
    ingest(client, api_key, new_spans)
    Run.objects.filter(trace_id=old_trace).update(started_at=timezone.now() - timedelta(days=40))
    Run.objects.filter(trace_id=new_trace).update(started_at=timezone.now() - timedelta(days=1))
    IngestBatch.objects.update(received_at=timezone.now() - timedelta(days=10))
    IngestBatch.objects.create(project=project, encoding="protobuf", body=b"", status=IngestBatch.PENDING,
                               received_at=timezone.now() - timedelta(days=10))
    other = Project.objects.create(name="Keeps", slug="keeps", retention_days=365)
    Run.objects.create(project=other, trace_id="ab" * 16, started_at=timezone.now() - timedelta(days=40))

    result = purge_expired(timezone.now())
    assert result == {"runs": 1, "raw_batches": 2}
    assert not Run.objects.filter(trace_id=old_trace).exists()
    assert not Step.objects.filter(trace_id=old_trace).exists()
    assert Step.objects.filter(trace_id=new_trace).count() == 3
    assert Run.objects.filter(project=other).exists()  # its own, longer retention
    assert IngestBatch.objects.filter(status=IngestBatch.PENDING).count() == 1  # unindexed data is never purged
    from tracing.spend_models import SpendBucket, SpendHour

    # Hours before the cutoff keep only what the run kept holds there (its steps carry old timestamps).
    old_hours = SpendHour.objects.filter(project=project, hour__lt=timezone.now() - timedelta(days=30))
    assert not SpendBucket.objects.filter(trace_id=old_trace).exists()
    assert {(c.hour, c.dimension, c.key, c.llm_calls, c.runs) for c in old_hours} == {
        (b.hour, b.dimension, b.key, b.llm_calls, b.runs) for b in SpendBucket.objects.filter(trace_id=new_trace)}
