"""A project's steps by key, (trace_id, span_id), or by run: what the indexer reads back under its
trace locks (the steps it just wrote, their parents, a run's root, all the steps of a run), and
the other rows it keeps per run (Run, search documents, spend rows).

On PostgreSQL each run or key is looked up in the (project_id, trace_id, …) indexes, whatever the
table's statistics say. Written as `project_id = … AND trace_id IN (…)`, the planner estimated how
many steps the lists select from statistics; without any (a table never analyzed: autovacuum off
or behind) it took a run list of 140 runs to select 70% of the table and read every step of the
project instead, 50,000 pages a lookup at 200,000 steps, 300 ms to 2 s, each under the trace
locks (docs/performance.md, eighth session); with statistics older than the project (a new
project) the key lists did the same. Here the ids come from one index probe per run or key, a
LATERAL subquery that its LIMIT or OFFSET keeps from being flattened into a join, so the plan
cannot become a scan of the project; the query then reads those ids by primary key, with no
condition on the project left for the planner to prefer (the ids are the project's). In the
probe the project is a value the planner cannot look up in the statistics, `(SELECT %s)`: a
project they do not know would be estimated at one row, and every index that starts with the
project (a Run has four) would look as good as the one that also holds the trace. SQLite gets the
pairs as a VALUES list and the runs as an IN list.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Model, QuerySet

from tracing.models import Step

_TABLE = Step._meta.db_table
_PROBED = ('"{table}"."id" = ANY(ARRAY(SELECT found.id FROM unnest({arrays}) AS u({names}) CROSS JOIN LATERAL '
           '(SELECT s.id FROM "{table}" s WHERE s.project_id = (SELECT %s) AND {match}) found))')


def by_trace(keys: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """{trace_id: span ids} of (trace_id, span_id) pairs."""
    out: dict[str, set[str]] = {}
    for trace_id, span_id in keys:
        out.setdefault(trace_id, set()).add(span_id)
    return out


def keyed(project_id: int, keys: dict[str, Iterable[str]]) -> QuerySet:
    """The project's steps with these {trace_id: span ids}: exactly those pairs."""
    pairs = [(t, s) for t, spans in keys.items() for s in spans]
    if not pairs:
        return Step.objects.none()
    if connection.vendor == "postgresql":
        where = _PROBED.format(table=_TABLE, arrays="%s::text[], %s::text[]", names="t, p",
                               match="s.trace_id = u.t AND s.span_id = u.p LIMIT 1")
        return Step.objects.extra(where=[where], params=[[t for t, _ in pairs], [s for _, s in pairs], project_id])
    steps = Step.objects.filter(project_id=project_id)
    columns = f'("{_TABLE}"."trace_id", "{_TABLE}"."span_id")'
    return steps.extra(where=[f"{columns} IN (VALUES {', '.join(['(%s, %s)'] * len(pairs))})"],
                       params=[v for pair in pairs for v in pair])


def of_runs(project_id: int, trace_ids: Iterable[str], model: type[Model] = Step) -> QuerySet:
    """The project's steps of these runs; or its rows of another model with a trace_id and an index
    that leads with (project, trace_id): Run, SearchDocument, SpendBucket, SpendRun."""
    traces = sorted(set(trace_ids))
    if not traces:
        return model.objects.none()
    if connection.vendor == "postgresql":
        where = _PROBED.format(table=model._meta.db_table, arrays="%s::text[]", names="t",
                               match="s.trace_id = u.t OFFSET 0")
        return model.objects.extra(where=[where], params=[traces, project_id])
    return model.objects.filter(project_id=project_id, trace_id__in=traces)
