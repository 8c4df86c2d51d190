"""Full-text search over runs: the distinct words of their steps' content (tracing.search_models).

A step's words are those of its inputs, outputs, reasoning, tool arguments and results, tool
calls and error, lower-cased, split at anything that is not a letter or digit; message
structure ("role": "user", "type": "text") is not content. PostgreSQL (tsvector, GIN) and
SQLite (FTS5, unicode61) store the same words, so a query means the same on both: a run
matches when it holds every word of the query, each as a prefix ("weath" finds "weather"),
in any of its steps.

Written at index time (tracing.indexer), one document per run and transaction. The words
are deduplicated there, not by the database: with the full text and `to_tsvector` in a GIN
expression index, full-text indexing was ~30% of all CPU per indexed span.
"""
from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from tracing.search_models import SearchDocument

MAX_STEP_CHARS = 100_000  # of a step's text read for words: a hostile 50 MB span cannot blow up the index
MAX_DOCUMENT_CHARS = 500_000  # of one document
MAX_DOCUMENT_BYTES = 1_000_000  # a tsvector holds < 1 MB: each word's UTF-8 bytes and 4 more
MAX_WORD_CHARS = 100  # longer "words" are base64 and hashes; nobody types them (a tsvector lexeme holds < 2 KB)
MAX_QUERY_TERMS = 12
FTS_TABLE = "tracing_searchdocument_fts"  # SQLite only; created with its triggers in migration 0007
_WORDS = re.compile(r"[^\W_]+")
# ASCII separators to spaces in one C pass; a token left with any other non-alphanumeric character
# (non-ASCII punctuation) is split again by _WORDS, so the result equals _WORDS.findall(text).
_SEPARATORS = str.maketrans({c: " " for c in string.punctuation})
_SKIP_VALUES = {"type", "role"}  # message structure, not content: "user", "text" would match every step
_STRUCTURE_KEYS = {"type", "role", "parts", "content", "id", "name", "arguments", "response", "finish_reason"}
CONTENT_FIELDS = ("name", "tool_name", "error_message", "reasoning", "tool_arguments", "tool_result", "input",
                  "output", "tool_calls")


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


def split_words(text: str) -> set[str]:
    """The distinct words of `text`, lower-cased: set(_WORDS.findall(text.lower())), faster."""
    out = set(text.lower().translate(_SEPARATORS).split())
    if not "".join(out).isalnum():  # some token holds non-ASCII punctuation (one C call says none does)
        out = {word for token in out for word in ([token] if token.isalnum() else _WORDS.findall(token))}
    if out and max(map(len, out)) > MAX_WORD_CHARS:
        out = {w for w in out if len(w) <= MAX_WORD_CHARS}
    return out


def step_words(step, seen: set[str] | None = None) -> set[str]:
    """The searchable words of one step (a Step, or anything with the same fields): those of its
    text's first MAX_STEP_CHARS characters; with `seen`, as step_text says."""
    return split_words(step_text(step, seen))


def step_text(step, seen: set[str] | None = None) -> str:
    """The text whose words are one step's searchable words (step_words). Words never span the
    spaces that join its strings, so the words of several steps' texts joined by spaces are those
    of the steps together: the indexer splits a run's texts once.

    With `seen` (strings of the run's earlier steps whose words the caller already holds), only
    the other strings are in the text, and this step's strings within the limit join `seen`: an
    agent's LLM calls re-send the whole conversation, so most of a step's text was split for an
    earlier step of its run. The run's words are the same either way (the text is cut where it
    would be without `seen`)."""
    parts: list[str] = []
    budget = [MAX_STEP_CHARS]
    for field in CONTENT_FIELDS:
        _strings(getattr(step, field), parts, budget)
    if seen is None:
        return " ".join(parts)[:MAX_STEP_CHARS]
    new, end = [], -1  # `end`: where the previous string ends in the joined text
    for part in parts:
        start = end + 1
        if start >= MAX_STEP_CHARS:
            break
        end = start + len(part)
        if end > MAX_STEP_CHARS:
            new.append(part[: MAX_STEP_CHARS - start])  # the cut string: not all of its words
            break
        if part not in seen:
            new.append(part)
            seen.add(part)
    return " ".join(new)


class RunWords:
    """The distinct words of several runs' steps, as the indexer collects them: each step's new
    text (step_text, with its run's `seen` strings) kept per run, and each run's text split once."""

    def __init__(self, trace_ids: Iterable[str] = ()):
        self._texts: dict[str, list[str]] = {t: [] for t in trace_ids}  # these runs have words, if none
        self._seen: dict[str, set[str]] = {t: set() for t in self._texts}

    def add(self, trace_id: str, step: Any) -> None:
        if trace_id not in self._texts:
            self._texts[trace_id], self._seen[trace_id] = [], set()
        self._texts[trace_id].append(step_text(step, self._seen[trace_id]))

    def words(self) -> dict[str, set[str]]:
        return {t: split_words(" ".join(parts)) for t, parts in self._texts.items()}


def document(words: Iterable[str]) -> str:
    """The stored form of a set of words: sorted, space-separated, capped at a word boundary (in
    characters, and in the bytes of the tsvector it becomes: 500,000 characters of CJK words are
    1.5 MB, which PostgreSQL refused, failing the batch at every retry)."""
    ordered = sorted(words)
    text = " ".join(ordered)
    size = len(text) if text.isascii() else len(text.encode())
    if len(text) <= MAX_DOCUMENT_CHARS and size + 4 * len(ordered) <= MAX_DOCUMENT_BYTES:
        return text
    kept, chars, size = [], -1, 0
    for word in ordered:
        chars += len(word) + 1
        size += len(word.encode()) + 4
        if chars > MAX_DOCUMENT_CHARS or size > MAX_DOCUMENT_BYTES:
            break
        kept.append(word)
    return " ".join(kept)


def stored_words(project_id: int, trace_ids: list[str], latest: int | None = None) -> Iterator[tuple[str, set[str]]]:
    """(trace_id, words) of each stored document of these runs, oldest first; with `latest`, of
    each run's latest documents only."""
    if not trace_ids:
        return
    table = SearchDocument._meta.db_table
    if connection.vendor == "postgresql":  # the words as text, not as a tsvector literal to unquote
        # One probe of the run index per run, whatever the statistics (tracing.step_keys).
        limit = "OFFSET 0" if latest is None else f"ORDER BY id DESC LIMIT {int(latest)}"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT d.trace_id, array_to_string(tsvector_to_array(d.words), ' ') "
                           f"FROM unnest(%s::text[]) AS u(t) CROSS JOIN LATERAL (SELECT id, trace_id, words "
                           f"FROM {table} WHERE project_id = %s AND trace_id = u.t {limit}) AS d ORDER BY d.id",
                           [list(trace_ids), project_id])
            rows = cursor.fetchall()
    else:
        rows = SearchDocument.objects.filter(project_id=project_id, trace_id__in=trace_ids).order_by("-id").values_list(
            "trace_id", "words")
        if latest is not None:
            kept: list[tuple[str, str]] = []
            count: defaultdict[str, int] = defaultdict(int)
            for trace_id, words in rows:
                count[trace_id] += 1
                if count[trace_id] <= latest:
                    kept.append((trace_id, words))
            rows = kept
        rows = reversed(list(rows))
    for trace_id, text in rows:
        yield trace_id, set(text.split())


def documents(project_id: int, words_by_trace: dict[str, set[str]]) -> list[SearchDocument]:
    return [SearchDocument(project_id=project_id, trace_id=trace_id, words=document(words))
            for trace_id, words in words_by_trace.items() if words]


def terms(query: str) -> list[str]:
    return _WORDS.findall((query or "").lower())[:MAX_QUERY_TERMS]


def filter_runs(runs: QuerySet, project_id: int, query: str) -> QuerySet:
    """The runs (a Run queryset of the project) holding every word of `query`, each as a prefix.
    A query without words filters nothing.

    PostgreSQL: one EXISTS per word on the run's documents, so the planner picks per query: for a
    rare word it reads the GIN index and joins the few runs; for common words it walks the runs in
    page order and checks each run's two or three documents until the page is full (collecting
    every match first took ~1 s for two words found in every run of 10,000). SQLite: the runs
    whose documents match each word (FTS5), intersected."""
    words = terms(query)
    if not words:
        return runs
    table = SearchDocument._meta.db_table
    if connection.vendor == "postgresql":  # words are [^\W_]+: nothing to escape in a tsquery
        docs = SearchDocument.objects.filter(project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id"))
        for word in words:
            runs = runs.filter(Exists(docs.filter(words__matches=f"{word}:*")))
        return runs
    one = (f"SELECT d.trace_id FROM {FTS_TABLE} f JOIN {table} d ON d.id = f.rowid"
           f" WHERE {FTS_TABLE} MATCH %s AND d.project_id = %s")
    params = [p for w in words for p in (f'"{w}"*', project_id)]
    return runs.filter(trace_id__in=RawSQL(" INTERSECT ".join([one] * len(words)), params))
