"""tracing.export and tracing.imports: a run leaves as OTLP/JSON and comes back identical."""
import hashlib
import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from tests.otlp_builders import agent_trace, request
from tests.tracing.test_export_hostile_run import hostile_run, ingest
from tracing import export
from tracing.imports import import_file
from tracing.models import AuditEvent, Project, Run, Step
from tracing.runs import RunFilter, filter_runs

CORPUS = sorted((Path(__file__).parents[1] / "fixtures" / "otlp").glob("*.pb"))
STEP_FIELDS = [f.name for f in Step._meta.concrete_fields if f.name not in ("id", "project")]
RUN_FIELDS = [f.name for f in Run._meta.concrete_fields if f.name not in ("id", "project", "last_seen_at")]
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def other(db):
    return Project.objects.create(name="Review", slug="review")


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def snapshot(project):
    steps = {s["span_id"]: s for s in Step.objects.filter(project=project).values(*STEP_FIELDS)}
    runs = {r["trace_id"]: r for r in Run.objects.filter(project=project).values(*RUN_FIELDS)}
    return steps, runs


def exported(project, trace_id) -> bytes:
    return export.run_otlp_json(export.run_steps(Run.objects.get(project=project, trace_id=trace_id)))


def import_bytes(project, data, capture, name="run.otlp.json"):
    with capture(execute=True):
        return import_file(project, io.BytesIO(data), name=name, actor="tests")


def test_round_trip_into_another_project_gives_identical_steps_and_run(project, other, capture):
    trace_id, body = hostile_run()
    ingest(project, body, capture)
    document = exported(project, trace_id)

    result = import_bytes(other, document, capture)

    assert result.ok and result.trace_ids == [trace_id] and result.spans == 7
    original, copy = snapshot(project), snapshot(other)
    assert len(copy[0]) == 7
    for span_id, step in original[0].items():  # every Step field, one by one, so a failure names it
        for field in STEP_FIELDS:
            assert copy[0][span_id][field] == step[field], f"{field} of {step['name']!r}"
    assert copy[1] == original[1]
    assert exported(other, trace_id) == document  # and the copy exports to the very same bytes


@pytest.mark.parametrize("payload", CORPUS, ids=lambda p: p.stem)
def test_every_captured_sdk_payload_round_trips(payload, project, other, capture):
    """Real instrumentation output of each convention (the conformance corpus) survives the trip."""
    ingest(project, payload.read_bytes(), capture)
    for run in Run.objects.filter(project=project):
        assert import_bytes(other, exported(project, run.trace_id), capture).ok
    assert snapshot(other) == snapshot(project)


def test_export_is_deterministic_and_valid_otlp_json(project, capture):
    trace_id, body = hostile_run()
    ingest(project, body, capture)
    first, second = exported(project, trace_id), exported(project, trace_id)
    assert first == second
    doc = orjson.loads(first)
    services = [{kv["key"]: kv["value"] for kv in rs["resource"]["attributes"]}["service.name"] for rs in doc["resourceSpans"]]
    assert services == [{"stringValue": "travel-bot"}, {"stringValue": "flight-tools"}]
    spans = [s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert all(len(s["traceId"]) == 32 and len(s["spanId"]) == 16 for s in spans)
    assert sum(1 for s in spans if "parentSpanId" not in s) == 1
    assert all(isinstance(s["startTimeUnixNano"], str) for s in spans)


def test_reimporting_the_same_file_changes_nothing(project, other, capture):
    trace_id, body = hostile_run()
    ingest(project, body, capture)
    document = exported(project, trace_id)
    import_bytes(other, document, capture)
    before = snapshot(other)
    again = import_bytes(other, document, capture)
    assert again.ok and snapshot(other) == before


def test_a_run_too_big_for_one_request_is_split_and_still_identical(project, other, capture, settings):
    trace_id, body = hostile_run()
    ingest(project, body, capture)
    settings.SAGATRACE_MAX_SPANS_PER_REQUEST = 3
    result = import_bytes(other, exported(project, trace_id), capture)
    assert result.ok and result.batches == 3
    assert snapshot(other) == snapshot(project)


def test_import_is_audited_with_the_file_hash(other, capture):
    _, spans = agent_trace()
    from tests.otlp_builders import to_json

    data = to_json(request(spans))
    import_bytes(other, data, capture, name="incident-42.json")
    event = AuditEvent.objects.get(project=other, action="runs_imported")
    assert event.target == "incident-42.json" and event.actor_label == "tests"
    assert event.detail["sha256"] == hashlib.sha256(data).hexdigest() and event.detail["spans"] == 3


def test_garbage_is_refused_and_still_audited(other, capture):
    result = import_bytes(other, b"<html>not a run</html>", capture)
    assert not result.ok and "not an OTLP/JSON" in result.errors[0]
    assert Step.objects.filter(project=other).count() == 0
    assert AuditEvent.objects.get(project=other, action="runs_imported").detail["errors"]


# --- bulk ----------------------------------------------------------------------------------------


def make_runs(project, capture):
    ids = {}
    for agent, model in (("helper", "gpt-4o"), ("helper", "gpt-4o-mini"), ("planner", "gpt-4o")):
        trace_id, spans = agent_trace(model=model)
        spans[-1].attributes[1].value.string_value = agent  # gen_ai.agent.name of the root
        ingest(project, request(spans), capture)
        ids.setdefault(agent, []).append(trace_id)
    return ids


def unzip(chunks):
    return zipfile.ZipFile(io.BytesIO(b"".join(chunks)))


def test_bulk_zip_has_one_file_per_run_and_a_manifest_whose_hashes_verify(project, capture):
    ids = make_runs(project, capture)
    filters = {"agent": "helper"}
    chunks = list(export.export_zip(project, filter_runs(project, RunFilter(agent="helper")), filters,
                                    exported_by="alice", exported_at=NOW))
    assert len(chunks) > 2  # streamed: a chunk per run, then the manifest and directory
    archive = unzip(chunks)
    manifest = orjson.loads(archive.read("manifest.json"))
    assert manifest["filter"] == filters and manifest["exported_by"] == "alice"
    assert manifest["exported_at"] == NOW.isoformat() and manifest["count"] == 2
    assert {e["trace_id"] for e in manifest["runs"]} == set(ids["helper"])
    for entry in manifest["runs"]:
        data = archive.read(entry["file"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert data == exported(project, entry["trace_id"])


def test_zip_imports_into_another_project(project, other, capture):
    make_runs(project, capture)
    data = b"".join(export.export_zip(project, filter_runs(project, RunFilter()), {}, exported_by="a", exported_at=NOW))
    result = import_bytes(other, data, capture, name="all.zip")
    assert result.ok and result.verified and result.files == 3
    assert snapshot(other) == snapshot(project)


def test_a_zip_modified_after_export_imports_nothing(project, other, capture):
    make_runs(project, capture)
    original = unzip(export.export_zip(project, filter_runs(project, RunFilter()), {}, exported_by="a", exported_at=NOW))
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        for i, info in enumerate(original.infolist()):
            data = original.read(info)
            out.writestr(info.filename, data.replace(b"search", b"delete") if i == 0 else data)
    result = import_bytes(other, tampered.getvalue(), capture, name="all.zip")
    assert not result.ok and "modified after export" in result.errors[0]
    assert not Step.objects.filter(project=other).exists()
