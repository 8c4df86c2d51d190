"""Bulk inserts of new rows: COPY on PostgreSQL, bulk_create elsewhere.

Django 5.2's bulk_create on PostgreSQL binds each column as an array, which psycopg escapes
element by element in Python: for wide rows with JSON it cost more than building the rows.
COPY sends the rows as they are; JSON columns are serialised by orjson. Only for rows that do
not exist yet (the caller holds the locks that make that true): COPY has no ON CONFLICT.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

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


def copy_rows(model: type[models.Model], rows: Iterable[list]) -> None:
    """COPY rows already in the column order of `_plan(model)` (PostgreSQL only)."""
    columns = _plan(model)[0]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
