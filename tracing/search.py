"""Full-text search over step content: one search document per Step (`Step.search_text`).

The document is the step's words only (inputs, outputs, reasoning, tool arguments and results,
errors), lower-cased, punctuation folded to spaces, so PostgreSQL (`to_tsvector('simple', …)`,
GIN index) and SQLite (FTS5, unicode61) tokenize it the same way and a query means the same on
both. A query matches steps containing every word, each as a prefix ("weath" finds "weather").
The document is capped so a hostile 50 MB span cannot blow up the index (tsvector max is 1 MB).
"""
from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL

MAX_DOCUMENT_CHARS = 100_000
MAX_QUERY_TERMS = 12
FTS_TABLE = "tracing_step_fts"  # SQLite only; created with its triggers in migration 0002
_WORDS = re.compile(r"[^\W_]+")
_SKIP_VALUES = {"type", "role"}  # message structure, not content: "user", "text" would match every step
_STRUCTURE_KEYS = {"type", "role", "parts", "content", "id", "name", "arguments", "response", "finish_reason"}


def _strings(value: Any, out: list[str], budget: list[int]) -> None:
    """Collect the string and number leaves of a JSON value, depth first, within the budget."""
    stack = [value]
    while stack and budget[0] > 0:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item[: budget[0]])
            budget[0] -= len(item)
        elif isinstance(item, dict):  # keys are words too ("city"), except the message shape's own
            for key, value in reversed(list(item.items())):
                if key not in _SKIP_VALUES:
                    stack.append(value)
                if key not in _STRUCTURE_KEYS:
                    stack.append(key)
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(str(item))


def document(step) -> str:
    """The searchable words of one step (works on a Step or anything with the same fields)."""
    parts: list[str] = []
    budget = [MAX_DOCUMENT_CHARS]
    for value in (step.name, step.tool_name, step.error_message, step.reasoning, step.tool_arguments,
                  step.tool_result, step.input, step.output, step.tool_calls):
        _strings(value, parts, budget)
    text = " ".join(_WORDS.findall(" ".join(parts).lower()))
    return text[:MAX_DOCUMENT_CHARS]


def terms(query: str) -> list[str]:
    return _WORDS.findall((query or "").lower())[:MAX_QUERY_TERMS]


def matching_trace_ids(project_id: int, query: str) -> RawSQL | None:
    """A subquery of the trace ids in the project with a step matching every word of `query`,
    for `Run.objects.filter(trace_id__in=…)`. None when the query has no words."""
    words = terms(query)
    if not words:
        return None
    if connection.vendor == "postgresql":
        tsquery = " & ".join(f"{w}:*" for w in words)  # words are [^\W_]+: nothing to escape
        return RawSQL(
            "SELECT s.trace_id FROM tracing_step s WHERE s.project_id = %s"
            " AND to_tsvector('simple', s.search_text) @@ to_tsquery('simple', %s)",
            [project_id, tsquery],
        )
    match = " ".join(f'"{w}"*' for w in words)
    return RawSQL(
        f"SELECT s.trace_id FROM {FTS_TABLE} f JOIN tracing_step s ON s.id = f.rowid"
        f" WHERE {FTS_TABLE} MATCH %s AND s.project_id = %s",
        [match, project_id],
    )
