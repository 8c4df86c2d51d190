"""Steps looked up by their key, (trace_id, span_id): the indexer reads the steps it just wrote,
their parents, a run's root.

`trace_id IN (…) AND span_id IN (…)` alone also matches the pairs crossed between traces. As a
join with the keys only, `(trace_id, span_id) IN (SELECT * FROM unnest(…))`, PostgreSQL probes
the unique index once per key when its statistics know the project (0.24 ms for 16 keys of a
4,000-step run, against 2 ms for the IN lists). But for a project newer than its statistics it
joined the keys against every step of the project (11 ms at 3,000 steps, growing with the
project until the next ANALYZE), and so on a table never analyzed. Both together: the IN lists
bound the scan by the runs looked up whatever the statistics, the join keeps only the pairs
(docs/performance.md, sixth session). SQLite gets the pairs as a VALUES list.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet


def by_trace(keys: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """{trace_id: span ids} of (trace_id, span_id) pairs."""
    out: dict[str, set[str]] = {}
    for trace_id, span_id in keys:
        out.setdefault(trace_id, set()).add(span_id)
    return out


def keyed(steps: QuerySet, keys: dict[str, Iterable[str]]) -> QuerySet:
    """`steps` (a Step queryset filtered on one project) narrowed to these {trace_id: span ids}.
    The condition names the table unaliased: not for a queryset used as a subquery."""
    pairs = [(t, s) for t, spans in keys.items() for s in spans]
    if not pairs:
        return steps.none()
    columns = '("{0}"."trace_id", "{0}"."span_id")'.format(steps.model._meta.db_table)
    if connection.vendor == "postgresql":
        traces, spans = [t for t, _ in pairs], [s for _, s in pairs]
        return steps.filter(trace_id__in=sorted(set(traces)), span_id__in=sorted(set(spans))).extra(
            where=[f"{columns} IN (SELECT * FROM unnest(%s::text[], %s::text[]))"], params=[traces, spans])
    return steps.extra(where=[f"{columns} IN (VALUES {', '.join(['(%s, %s)'] * len(pairs))})"],
                       params=[v for pair in pairs for v in pair])
