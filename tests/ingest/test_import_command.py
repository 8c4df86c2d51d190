"""manage.py import_runs FILE --project SLUG: exported runs back in, through the ingest path."""
import io

import pytest
from django.core.management import CommandError, call_command

from ingest.models import IngestBatch
from tests.tracing.test_export_hostile_run import hostile_run, ingest
from tracing import export
from tracing.models import AuditEvent, Project, Run, Step
from tracing.runs import RunFilter, filter_runs


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def files(project, tmp_path, capture):
    ids = []
    for _ in range(2):
        trace_id, body = hostile_run()
        ingest(project, body, capture)
        ids.append(trace_id)
    single = tmp_path / f"run-{ids[0]}.otlp.json"
    single.write_bytes(export.run_otlp_json(export.run_steps(Run.objects.get(trace_id=ids[0]))))
    bulk = tmp_path / "acme.zip"
    bulk.write_bytes(b"".join(export.export_zip(project, filter_runs(project, RunFilter()), {}, exported_by="t",
                                                exported_at=Run.objects.first().started_at)))
    Project.objects.create(name="Review", slug="review")
    return ids, single, bulk


@pytest.fixture
def run_command(capture):
    """The command, with batches indexed on commit as in production."""
    def run(*args) -> str:
        out = io.StringIO()
        with capture(execute=True):
            call_command("import_runs", *map(str, args), stdout=out)
        return out.getvalue()
    return run


def test_imports_a_run_file_and_a_zip_and_says_what_it_did(files, run_command):
    ids, single, bulk = files
    assert "1 run, 7 spans in 1 batch(es)" in run_command(single, "--project", "review")
    out = run_command(bulk, "--project", "review")
    assert "2 runs, 14 spans" in out and "manifest hashes verified" in out
    assert set(Run.objects.filter(project__slug="review").values_list("trace_id", flat=True)) == set(ids)
    assert IngestBatch.objects.filter(project__slug="review", source="import").count() == 3
    events = AuditEvent.objects.filter(action="runs_imported", project__slug="review")
    assert [e.target for e in events.order_by("at")] == [single.name, "acme.zip"]
    assert events.first().actor is None and events.first().actor_label.startswith("command line (")


def test_running_it_twice_changes_no_step(files, run_command):
    _, _, bulk = files
    run_command(bulk, "--project", "review")
    before = list(Step.objects.filter(project__slug="review").order_by("span_id").values())
    run_command(bulk, "--project", "review")
    assert list(Step.objects.filter(project__slug="review").order_by("span_id").values()) == before


def test_refuses_unknown_projects_missing_files_and_garbage(files, tmp_path, run_command):
    _, single, _ = files
    with pytest.raises(CommandError, match="no project"):
        run_command(single, "--project", "nope")
    with pytest.raises(CommandError, match="no such file"):
        run_command(tmp_path / "missing.json", "--project", "review")
    garbage = tmp_path / "notes.zip"
    garbage.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(CommandError, match="notes.zip"):
        run_command(garbage, "--project", "review")
