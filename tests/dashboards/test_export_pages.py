"""Export and import pages and the export API: who may, what they get, and the audit trail."""
import hashlib
import io
import json
import zipfile

import orjson
import pytest
from django.contrib.auth import get_user_model

from tests.otlp_builders import agent_trace, request
from tests.tracing.test_export_hostile_run import hostile_run, ingest
from tracing.models import ApiKey, AuditEvent, Membership, Project, Run, Step


@pytest.fixture
def runs(project, django_capture_on_commit_callbacks):
    ids = []
    for _ in range(2):
        trace_id, spans = agent_trace()
        ingest(project, request(spans), django_capture_on_commit_callbacks)
        ids.append(trace_id)
    return ids


@pytest.fixture
def bob(db, project):
    """bob is a viewer of the acme project."""
    user = get_user_model().objects.create_user("bob", password="bob-password")
    Membership.objects.create(user=user, project=project, role=Membership.VIEWER)
    return user


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- one run ------------------------------------------------------------------------------------


def test_member_downloads_a_run_as_otlp_json_and_it_is_audited(client, alice, project, runs):
    client.force_login(alice)
    response = client.get(f"/p/acme/runs/{runs[0]}/export?format=otlp-json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="run-{runs[0]}.otlp.json"'
    data = body(response)
    assert len(orjson.loads(data)["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 3
    event = AuditEvent.objects.get(action="run_exported")
    assert (event.actor, event.project, event.target) == (alice, project, runs[0])
    assert event.detail == {"format": "otlp-json", "sha256": hashlib.sha256(data).hexdigest(), "spans": 3}


def test_html_report_names_the_exporter_and_the_hash_of_the_otlp_json(client, alice, runs):
    client.force_login(alice)
    otlp = body(client.get(f"/p/acme/runs/{runs[0]}/export?format=otlp-json"))
    response = client.get(f"/p/acme/runs/{runs[0]}/export?format=html")
    html = response.content.decode()
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="run-{runs[0]}-report.html"'
    assert "by <b>alice</b>" in html and hashlib.sha256(otlp).hexdigest() in html
    assert AuditEvent.objects.filter(action="run_exported", detail__format="html").count() == 1


def test_outsiders_get_404_and_bad_formats_400(client, alice, runs):
    other = Project.objects.create(name="Other", slug="other")
    client.force_login(alice)
    assert client.get(f"/p/other/runs/{runs[0]}/export").status_code == 404
    assert client.get(f"/p/acme/runs/{'0' * 32}/export").status_code == 404
    assert client.get(f"/p/acme/runs/{runs[0]}/export?format=pdf").status_code == 400
    client.logout()
    assert client.get(f"/p/acme/runs/{runs[0]}/export").status_code == 302  # to the login page
    assert not AuditEvent.objects.filter(action="run_exported").exists() and other


# --- bulk ---------------------------------------------------------------------------------------


def test_bulk_page_previews_the_filter_and_downloads_a_streamed_zip(client, alice, runs, django_assert_max_num_queries):
    client.force_login(alice)
    with django_assert_max_num_queries(10):
        page = client.get("/p/acme/export/?agent=helper")
    text = page.content.decode()
    assert page.status_code == 200 and "2 runs match" in text and "2 runs matches" not in text
    response = client.get("/p/acme/export/?agent=helper&download=zip")
    assert response.streaming and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    manifest = json.loads(archive.read("manifest.json"))
    assert sorted(e["trace_id"] for e in manifest["runs"]) == sorted(runs)
    assert manifest["exported_by"] == "alice" and manifest["filter"] == {"agent": "helper"}
    assert all(hashlib.sha256(archive.read(e["file"])).hexdigest() == e["sha256"] for e in manifest["runs"])
    event = AuditEvent.objects.get(action="runs_exported")
    assert event.actor == alice and event.detail == {"filter": {"agent": "helper"}, "runs": 2}


def test_bulk_export_selects_what_the_runs_list_selects(client, alice, runs, project, django_capture_on_commit_callbacks):
    trace_id, pb = hostile_run()
    ingest(project, pb, django_capture_on_commit_callbacks)
    client.force_login(alice)
    query = "?status=ok&tag=incident&range=&since=2025-10-01T00:00&min_cost=0.001"
    listed = client.get(f"/p/acme/runs/{query}").content.decode()
    archive = zipfile.ZipFile(io.BytesIO(body(client.get(f"/p/acme/export/{query}&download=zip"))))
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["trace_id"] for e in manifest["runs"]] == [trace_id] and trace_id in listed
    assert not any(t in listed for t in runs)
    assert manifest["filter"] == {"status": "ok", "tag": "incident", "since": "2025-10-01T00:00", "min_cost": "0.001"}


def test_bulk_page_explains_a_bad_filter(client, alice, runs):
    client.force_login(alice)
    page = client.get("/p/acme/export/?since=last+tuesday&download=zip")
    assert page.status_code == 400 and "Invalid filter: since:" in page.content.decode()
    assert not AuditEvent.objects.filter(action="runs_exported").exists()


# --- API ----------------------------------------------------------------------------------------


def test_api_exports_a_run_with_a_read_key_and_audits_the_key(client, api_key, runs):
    response = client.get(f"/api/v1/runs/{runs[0]}/export?format=otlp-json", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 200 and orjson.loads(body(response))["resourceSpans"]
    html = client.get(f"/api/v1/runs/{runs[0]}/export?format=html", HTTP_X_API_KEY=api_key)
    assert html.status_code == 200 and "API key st_" in html.content.decode()
    labels = set(AuditEvent.objects.filter(action="run_exported").values_list("actor_label", flat=True))
    assert len(labels) == 1 and labels.pop().startswith("API key st_")


def test_api_errors_are_json(client, project, api_key, runs):
    _, ingest_only = ApiKey.issue(project, name="ci", scopes=[ApiKey.INGEST])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    assert client.get(f"/api/v1/runs/{runs[0]}/export").status_code == 401
    assert client.get(f"/api/v1/runs/{runs[0]}/export", HTTP_AUTHORIZATION=f"Bearer {ingest_only}").status_code == 403
    missing = client.get(f"/api/v1/runs/{'a' * 32}/export", **auth)
    assert missing.status_code == 404 and missing.json() == {"error": "no such run"}
    assert client.get(f"/api/v1/runs/{runs[0]}/export?format=xml", **auth).status_code == 400
    bad = client.get("/api/v1/export?status=weird", **auth).json()
    assert bad["error"] == "invalid filter" and "status" in bad["fields"]


def test_api_bulk_export_with_a_session(client, alice, runs):
    client.force_login(alice)
    response = client.get("/api/v1/export?project=acme&status=ok")
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert len([n for n in archive.namelist() if n.startswith("runs/")]) == 2


# --- import -------------------------------------------------------------------------------------


def test_member_imports_an_exported_run_into_another_project(client, alice, project, django_capture_on_commit_callbacks):
    trace_id, pb = hostile_run()
    ingest(project, pb, django_capture_on_commit_callbacks)
    client.force_login(alice)
    exported = body(client.get(f"/p/acme/runs/{trace_id}/export?format=otlp-json"))
    review = Project.objects.create(name="Review", slug="review")
    Membership.objects.create(user=alice, project=review, role=Membership.MEMBER)
    upload = io.BytesIO(exported)
    upload.name = "evidence.json"
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post("/p/review/import/", {"file": upload})
    assert page.status_code == 200, page.content
    assert "Imported" in page.content.decode() and trace_id in page.content.decode()
    assert Step.objects.filter(project=review, trace_id=trace_id).count() == 7
    assert Run.objects.get(project=review).errors == 1
    event = AuditEvent.objects.get(action="runs_imported")
    assert (event.actor, event.project, event.target) == (alice, review, "evidence.json")
    assert event.detail["sha256"] == hashlib.sha256(exported).hexdigest()


def test_viewers_can_neither_export_nor_import(client, bob, runs):
    client.force_login(bob)
    assert client.get(f"/p/acme/runs/{runs[0]}/export?format=html").status_code == 404
    assert client.get("/p/acme/export/?download=zip").status_code == 404
    assert client.get("/p/acme/import/").status_code == 404
    assert client.post("/p/acme/import/", {"file": io.BytesIO(b"{}")}).status_code == 404
    assert not AuditEvent.objects.filter(action__in=["run_exported", "runs_exported", "runs_imported"]).exists()


def test_import_page_reports_what_went_wrong(client, alice):
    client.force_login(alice)
    upload = io.BytesIO(b"this is not json")
    upload.name = "notes.txt"
    page = client.post("/p/acme/import/", {"file": upload})
    assert page.status_code == 400 and "not an OTLP/JSON" in page.content.decode()
    assert client.post("/p/acme/import/", {}).status_code == 400
