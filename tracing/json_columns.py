"""JSON columns a step's content goes in: PostgreSQL `json` (the text, checked to be JSON) rather
than `jsonb` (parsed into a binary form as it is stored).

Steps are written by COPY and read back whole (pages, exports, diffs); nothing searches inside
their messages in SQL (the full-text search has its own words, tracing.search), and the one path
read in SQL (`raw`'s response id, tracing.dedupe) works on `json` as on `jsonb`. Parsing into jsonb
was ~40% of PostgreSQL's COPY of a step: 95 µs a row against 73 as json, on the benchmark's steps
(docs/performance.md, thirteenth session), and jsonb's form took 6% more room. What `json` gives
up: no equality, so these columns cannot be compared, grouped or DISTINCTed in SQL; keys keep
the order they were written in. SQLite stores JSON as text either way.

Django decodes JSONField values itself and has psycopg hand `jsonb` over as text; `register`
does the same for `json` on each new connection (psycopg's own decoding would turn a stored JSON
string such as "42" into 42 when Django decoded it again).
"""
from __future__ import annotations

from django.db import models


class ContentJSONField(models.JSONField):
    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)


def register(sender, connection, **kwargs) -> None:
    """connection_created receiver: psycopg returns `json` columns as text, as Django has it do for jsonb."""
    if connection.vendor != "postgresql":
        return
    from psycopg.types.string import TextBinaryLoader, TextLoader

    connection.connection.adapters.register_loader("json", TextLoader)
    connection.connection.adapters.register_loader("json", TextBinaryLoader)
