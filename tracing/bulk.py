"""Bulk inserts of new rows: COPY on PostgreSQL, bulk_create elsewhere.

Django 5.2's bulk_create on PostgreSQL binds each column as an array, which psycopg escapes
element by element in Python: for wide rows with JSON it cost more than building the rows.
COPY sends the rows as they are; JSON columns are serialised by orjson. Only for rows that do
not exist yet (the caller holds the locks that make that true): COPY has no ON CONFLICT.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import orjson
from django.db import connection, models


def json_text(value):
    """A JSONField value as Django would store it (None is SQL NULL), serialised by orjson."""
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses (integers beyond 64 bits, non-string keys…): as Django would
        return json.dumps(value)


def _same(value):
    return value


_plans: dict[type, tuple[list[str], list[tuple[str, object]]]] = {}


def _plan(model: type[models.Model]):
    """(column names, [(attname, dumper)]) of every concrete field but the auto id."""
    if model not in _plans:
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
        _plans[model] = (
            [f.column for f in fields],
            [(f.attname, json_text if isinstance(f, models.JSONField) else _same) for f in fields],
        )
    return _plans[model]


def insert(model: type[models.Model], objs: Sequence[models.Model], batch_size: int = 1000) -> None:
    """INSERT these new instances (their primary keys are not set on them)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=batch_size)
        return
    copy_rows(model, ([dump(getattr(obj, attname)) for attname, dump in _plan(model)[1]] for obj in objs))


def insert_values(model: type[models.Model], rows: Sequence[dict]) -> None:
    """insert(), from {attname: value} dicts holding every concrete field but the auto id: on
    PostgreSQL no model instance is built (that cost more than the rest of the row's work)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        insert(model, [model(**row) for row in rows])
        return
    copy_rows(model, ([dump(row[attname]) for attname, dump in _plan(model)[1]] for row in rows))


def upsert(model: type[models.Model], objs: Sequence[models.Model], unique_fields: Sequence[str]) -> None:
    """INSERT these instances, or UPDATE every other field of the rows they conflict with on
    `unique_fields`. On PostgreSQL the rows travel as one JSON parameter the database unpacks into
    the table's row type: bulk_create bound ~30 parameters a row, each prepared by its field and
    quoted by psycopg in Python, which cost the indexer more than the rest of a run's upkeep."""
    if not objs:
        return
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    unique = {model._meta.get_field(name).column for name in unique_fields}
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, update_conflicts=True, unique_fields=unique_fields,
                                  update_fields=[f.name for f in fields if f.column not in unique])
        return
    qn = connection.ops.quote_name
    columns = [qn(f.column) for f in fields]
    updates = [f"{qn(f.column)} = EXCLUDED.{qn(f.column)}" for f in fields if f.column not in unique]
    payload = [{f.column: getattr(obj, f.attname) for f in fields} for obj in objs]
    table = qn(model._meta.db_table)
    with connection.cursor() as cursor:
        # In the given order (callers sort: concurrent upserts then lock rows in the same order).
        cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(f'r.{c}' for c in columns)} "
                       f"FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS t(e, n) "
                       f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, t.e) AS r ORDER BY t.n "
                       f"ON CONFLICT ({', '.join(qn(c) for c in unique)}) DO UPDATE SET {', '.join(updates)}",
                       [_json_rows(payload)])


def _json_rows(rows: list[dict]) -> str:
    """Rows as JSON the database reads back exactly: decimals as strings (numeric parses them),
    datetimes in ISO 8601 with their offset (orjson writes them so)."""
    try:
        return orjson.dumps(rows, default=_as_text).decode()
    except TypeError:  # what orjson refuses (integers beyond 64 bits…): as json writes it
        return json.dumps(rows, default=_as_text)


def _as_text(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def copy_rows(model: type[models.Model], rows: Iterable[list]) -> None:
    """COPY rows already in the column order of `_plan(model)` (PostgreSQL only)."""
    columns = _plan(model)[0]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
