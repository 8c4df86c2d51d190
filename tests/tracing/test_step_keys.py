"""tracing.step_keys: a project's steps by (trace_id, span_id) or by run, exactly those, on both
databases; on PostgreSQL without reading the rest of the project, whatever its statistics."""
import json

import pytest
from django.db import connection

from tracing.models import Project, Step
from tracing.step_keys import by_trace, keyed, of_runs

pytestmark = pytest.mark.django_db


def step(project, trace_id, span_id):
    return Step.objects.create(project=project, trace_id=trace_id, span_id=span_id, name="x", start_ns=0, end_ns=0)


def test_only_the_pairs_asked_for_even_where_span_ids_cross_between_traces(project):
    a, b = "a" * 32, "b" * 32
    for trace_id in (a, b):
        for span_id in ("1" * 16, "2" * 16):
            step(project, trace_id, span_id)
    found = set(keyed(project.id, {a: ["1" * 16], b: ["2" * 16]}).values_list("trace_id", "span_id"))
    assert found == {(a, "1" * 16), (b, "2" * 16)}  # not (a, "2…") nor (b, "1…")
    assert not keyed(project.id, {}).exists()
    assert by_trace([(a, "1"), (a, "2"), (b, "1")]) == {a: {"1", "2"}, b: {"1"}}


def test_the_steps_of_the_runs_asked_for_and_no_others(project):
    other = Project.objects.create(name="Other", slug="other")
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    for trace_id, span_id in ((a, "1" * 16), (a, "2" * 16), (b, "3" * 16), (c, "4" * 16)):
        step(project, trace_id, span_id)
    step(other, a, "5" * 16)
    assert set(of_runs(project.id, [a, b, a]).values_list("trace_id", "span_id")) == {
        (a, "1" * 16), (a, "2" * 16), (b, "3" * 16)}
    assert not of_runs(project.id, []).exists()
    assert of_runs(project.id, {b: ["x"]}).get().span_id == "3" * 16  # a dict's keys are its runs


def test_a_condition_given_with_the_runs_selects_among_their_steps(project):
    from django.db.models import Q

    a, b = "a" * 32, "b" * 32
    for trace_id, span_id, kind in ((a, "1" * 16, "llm"), (a, "2" * 16, "tool"), (b, "3" * 16, "llm"),
                                    ("c" * 32, "4" * 16, "llm")):
        Step.objects.create(project=project, trace_id=trace_id, span_id=span_id, name="x", kind=kind,
                            start_ns=0, end_ns=0)
    found = of_runs(project.id, [a, b], where=Q(kind="llm") & ~Q(span_id="3" * 16))
    assert set(found.values_list("trace_id", "span_id")) == {(a, "1" * 16)}


def test_another_project_s_steps_are_not_found(project):
    other = Project.objects.create(name="Other", slug="other")
    step(other, "c" * 32, "3" * 16)
    assert not keyed(project.id, {"c" * 32: ["3" * 16]}).exists()
    assert not of_runs(project.id, ["c" * 32]).exists()


def _rows_read(queryset) -> int:
    """Rows of the queryset's table its plan read: returned by its scans or removed by their filters."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    total, stack = 0, [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        stack.extend(node.get("Plans", ()))
        if node.get("Relation Name") == queryset.model._meta.db_table:
            total += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
                      + node.get("Rows Removed by Index Recheck", 0)) * node["Actual Loops"]
    return total


@pytest.mark.pg_only
def test_a_lookup_reads_the_runs_asked_for_not_the_project_whatever_the_statistics(project):
    """A project newer than the table's statistics (which know another project's 6,000 steps):
    PostgreSQL believes it holds no steps. Planned from the lists alone, the lookups read all of
    its steps (and all of a table never analyzed)."""
    from tracing import bulk

    other = Project.objects.create(name="Other", slug="other")
    bulk.insert(Step, [Step(project=other, trace_id=f"f{t:031x}", span_id=f"{i:016x}", name="x", start_ns=i, end_ns=i)
                       for t in range(300) for i in range(20)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracing_step")
    traces = [f"{t:032x}" for t in range(300)]
    bulk.insert(Step, [Step(project=project, trace_id=t, span_id=f"{i:016x}", name="x", start_ns=i, end_ns=i)
                       for t in traces for i in range(20)])
    asked = traces[::20]  # 15 runs of 20 steps, of 6,000
    runs = of_runs(project.id, asked)
    assert runs.count() == 300
    assert _rows_read(runs.filter(kind="other").values_list("trace_id", "span_id")) <= 2 * 300
    keys = {t: [f"{i:016x}" for i in range(0, 20, 4)] for t in asked}  # 75 steps
    assert keyed(project.id, keys).count() == 75
    assert _rows_read(keyed(project.id, keys).values_list("trace_id", "span_id", "version")) <= 2 * 75


@pytest.mark.pg_only
def test_the_runs_own_rows_are_read_by_run_whatever_the_statistics(project):
    """The same for the rows the indexer keeps per run (Run here; spend rows and search documents go
    through the same lookup): a new project's runs are not all read to find a few."""
    from django.utils import timezone

    from tracing import bulk, search
    from tracing.models import Run, SearchDocument

    other, now = Project.objects.create(name="Other", slug="other"), timezone.now()
    bulk.insert(Run, [Run(project=other, trace_id=f"f{t:031x}", started_at=now) for t in range(3000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracing_run")
    traces = [f"{t:032x}" for t in range(3000)]
    bulk.insert(Run, [Run(project=project, trace_id=t, started_at=now) for t in traces])
    asked = traces[::200]
    runs = of_runs(project.id, asked, Run)
    assert sorted(runs.values_list("trace_id", flat=True)) == asked
    assert _rows_read(runs.values_list("trace_id", "agent")) <= 2 * len(asked)
    bulk.insert(SearchDocument, search.documents(project.id, {asked[0]: {"weather"}, traces[1]: {"lisbon"}})
                + search.documents(other.id, {asked[0]: {"rain"}}))
    assert list(of_runs(project.id, asked, SearchDocument).values_list("trace_id", flat=True)) == [asked[0]]
    runs.delete()
    assert Run.objects.filter(project=project).count() == 3000 - len(asked)


@pytest.mark.pg_only
@pytest.mark.parametrize("model_name", ["Run", "SpendRun"])
def test_the_runs_own_rows_are_read_by_run_in_a_table_analyzed_while_empty(project, model_name):
    """Statistics taken before the project had any runs (a fresh install analyzed after migrating,
    or autovacuum off): PostgreSQL believes the table empty, and every index that starts with the
    project looked as good as the one holding the trace, so each run looked up read all the runs."""
    from django.utils import timezone

    from tracing import bulk
    from tracing.models import Run
    from tracing.spend_models import SpendRun

    model = {"Run": Run, "SpendRun": SpendRun}[model_name]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {model._meta.db_table}")
    now = timezone.now()
    traces = [f"{t:032x}" for t in range(6000)]
    bulk.insert(model, [model(project=project, trace_id=t, started_at=now, status="ok") for t in traces])
    asked = traces[::300]
    rows = of_runs(project.id, asked, model)
    assert sorted(rows.values_list("trace_id", flat=True)) == asked
    assert _rows_read(rows.values_list("trace_id", flat=True)) <= 2 * len(asked)
