"""A project's steps by key, (trace_id, span_id), or by run: what the indexer reads back under its
trace locks (the steps it just wrote, their parents, a run's root, all the steps of a run), and
the other rows it keeps per run (Run, search documents, spend rows).

On PostgreSQL each run or key is looked up in the (project_id, trace_id, …) indexes, whatever the
table's statistics say. Written as `project_id = … AND trace_id IN (…)`, the planner estimated how
many steps the lists select from statistics; without any (a table never analyzed: autovacuum off
or behind) it took a run list of 140 runs to select 70% of the table and read every step of the
project instead, 50,000 pages a lookup at 200,000 steps, 300 ms to 2 s, each under the trace
locks (docs/performance.md, eighth session); with statistics older than the project (a new
project) the key lists did the same.

Here one index probe per run or key, in a LATERAL subquery that its LIMIT or OFFSET keeps from
being flattened into a join, finds the rows' physical addresses (ctid), and the query fetches
those, with no condition on the project left for the planner to prefer; so the plan cannot become
a scan of the project. Two details keep the probe on the right index when the planner believes
the project empty and any index looks as good as another: the project is `(SELECT %s)`, a value
it cannot look up in the statistics (otherwise every index that starts with the project, four for
a Run, looked as good as the one that also holds the trace), and the trace (for a run's rows) or
a key's span is asked for as a range, in the order of the index that holds it. Otherwise, with
statistics that say the table is empty (analyzed before the project had runs), a Run's status
index looked as good as its trace index and each run looked up read all the project's runs
(1,200 rows a probe, ~10 ms a lookup of 60 runs, growing with the project: thirteenth session);
and for a key the run index looked as good, and read the run's steps up to the key (2,000 for a
long run's). Asked for as `>=` and `<=`, a trace is still one value: the collation is
deterministic. `where` conditions are checked inside the
probe, so that a run's rows are read once. SQLite gets the pairs as a VALUES list and the runs as
an IN list.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Model, Q, QuerySet

from tracing.models import Step

_TABLE = Step._meta.db_table
# The inner table is not aliased, so that a condition Django compiled for the model's table applies
# to it (the innermost name wins).
_PROBED = ('"{table}".ctid = ANY(ARRAY(SELECT found.ctid FROM unnest({arrays}) AS u({names}) CROSS JOIN LATERAL '
           '(SELECT "{table}".ctid FROM "{table}" WHERE "{table}".project_id = (SELECT %s) AND {match}) found))')


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
                               match=f'"{_TABLE}".trace_id = u.t AND "{_TABLE}".span_id >= u.p '  # = u.p: see above
                                     f'AND "{_TABLE}".span_id <= u.p ORDER BY "{_TABLE}".span_id LIMIT 1')
        return Step.objects.extra(where=[where], params=[[t for t, _ in pairs], [s for _, s in pairs], project_id])
    steps = Step.objects.filter(project_id=project_id)
    columns = f'("{_TABLE}"."trace_id", "{_TABLE}"."span_id")'
    return steps.extra(where=[f"{columns} IN (VALUES {', '.join(['(%s, %s)'] * len(pairs))})"],
                       params=[v for pair in pairs for v in pair])


def of_runs(project_id: int, trace_ids: Iterable[str], model: type[Model] = Step, where: Q | None = None
            ) -> QuerySet:
    """The project's steps of these runs; or its rows of another model with a trace_id and an index
    that leads with (project, trace_id): Run, SearchDocument, SpendBucket, SpendRun. `where`, a
    condition on the model's own fields, is checked as each run's rows are read, so that only the
    rows that meet it are fetched again (a run streaming in has its few new steps' children looked
    for among thousands). To update or delete through it, hold the runs' trace locks, as every
    writer of these rows does: a row another transaction updated meanwhile has a new address."""
    traces = sorted(set(trace_ids))
    if not traces:
        return model.objects.none()
    if connection.vendor == "postgresql":
        table = model._meta.db_table
        # The run as a range, in the order of the (project_id, trace_id, …) index: see above.
        match, params = f'"{table}".trace_id >= u.t AND "{table}".trace_id <= u.t', []
        if where is not None:
            query = model.objects.filter(where).query
            assert len(query.alias_map) == 1, "a condition on the model's own fields only"
            sql, params = query.get_compiler(connection=connection).compile(query.where)
            match = f"{match} AND {sql}"
        probe = _PROBED.format(table=table, arrays="%s::text[]", names="t",
                               match=f'{match} ORDER BY "{table}".trace_id OFFSET 0')
        return model.objects.extra(where=[probe], params=[traces, project_id, *params])
    rows = model.objects.filter(project_id=project_id, trace_id__in=traces)
    return rows.filter(where) if where is not None else rows
