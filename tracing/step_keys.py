"""Steps looked up by their key, (trace_id, span_id): the indexer reads the steps it just wrote,
their parents, a run's root.

Written as `trace_id IN (…) AND span_id IN (…)`, PostgreSQL may read the lookup through the
(project, trace_id, start_ns) index and filter every step of the run: it does when its statistics
predate the run, as they do for a run still streaming in (3.7 ms, 6,000 rows filtered to find 2,
against 0.07 ms through the unique index; docs/performance.md). As a join with the keys there
is one way that is cheap: a probe of the unique (project, trace_id, span_id) index per key.
SQLite gets the pairs as a VALUES list.
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
        return steps.extra(where=[f"{columns} IN (SELECT * FROM unnest(%s::text[], %s::text[]))"],
                           params=[[t for t, _ in pairs], [s for _, s in pairs]])
    return steps.extra(where=[f"{columns} IN (VALUES {', '.join(['(%s, %s)'] * len(pairs))})"],
                       params=[v for pair in pairs for v in pair])
