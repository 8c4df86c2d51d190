"""The indexer's bulk writes (tracing.bulk) store exactly what the instances hold: rows read back
equal what was written, on PostgreSQL (COPY; one JSON parameter for upserts) and on SQLite
(bulk_create), whatever the values."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tracing import bulk
from tracing.models import Run

pytestmark = pytest.mark.django_db
FIELDS = [f.attname for f in Run._meta.concrete_fields if f.attname != "id"]
AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def run(project, trace_id, **values):
    defaults = dict(project_id=project.id, trace_id=trace_id, started_at=AT, last_seen_at=AT)
    return Run(**{**defaults, **values})


def stored(trace_id):
    return Run.objects.filter(trace_id=trace_id).values(*FIELDS).get()


def as_written(obj):
    return {f: getattr(obj, f) for f in FIELDS}


EDGES = [
    dict(name="plain", cost_usd=Decimal("0.0000000001"), duration_ms=0.1 + 0.2, tags=["a"], models_used=["gpt-4o"]),
    dict(name="é 中文 🚀 \"quoted\" \\ back\nslash\ttab", agent="\u2028line sep", cost_usd=Decimal("12345.6789012345"),  # SQLite keeps decimals as doubles
         duration_ms=1e-300, tags=["x" * 200, "ü"], models_used=[], session_id="s" * 200, user_id="'; DROP TABLE x; --"),
    dict(name="", cost_usd=None, duration_ms=None, ended_at=None, start_ns=None, end_ns=None, tags=[], models_used=[]),
    dict(name="big", cost_usd=Decimal("-1.5"), input_tokens=2**62, output_tokens=10**10, steps=2**31 - 1,
         start_ns=-(2**63), end_ns=2**63 - 1, ended_at=AT + timedelta(days=365 * 200), duration_ms=1.7976931348623157e308,
         status=Run.ERROR, tags=[{"nested": [1, 2.5, None, True]}], models_used=["a/b:c"]),
]


@pytest.mark.parametrize("values", EDGES, ids=["plain", "text", "nulls", "extremes"])
def test_upsert_inserts_then_updates_every_field_exactly(project, values):
    first = run(project, "t1", **values)
    bulk.upsert(Run, [first], unique_fields=["project", "trace_id"])
    assert stored("t1") == as_written(first)
    row_id = Run.objects.get(trace_id="t1").id
    # The conflicting row gets every field of the new one, and keeps its id.
    second = run(project, "t1", name="renamed", agent="other", cost_usd=Decimal("1.25"), tags=["later"],
                 started_at=AT - timedelta(hours=1), status=Run.OK, steps=3)
    bulk.upsert(Run, [second], unique_fields=["project", "trace_id"])
    assert stored("t1") == as_written(second)
    assert Run.objects.get(trace_id="t1").id == row_id
    assert Run.objects.count() == 1


def test_upsert_many_rows_some_new(project):
    bulk.upsert(Run, [run(project, "a", steps=1), run(project, "b", steps=2)], unique_fields=["project", "trace_id"])
    bulk.upsert(Run, [run(project, "b", steps=20), run(project, "c", steps=30)], unique_fields=["project", "trace_id"])
    assert dict(Run.objects.values_list("trace_id", "steps")) == {"a": 1, "b": 20, "c": 30}


def test_insert_stores_exactly(project):
    rows = [run(project, f"i{i}", **values) for i, values in enumerate(EDGES)]
    bulk.insert(Run, rows)
    for row in rows:
        assert stored(row.trace_id) == as_written(row)
