"""The span as received (`Step.raw`), stored without the long strings the step's other columns hold.

An LLM span's attributes carry its messages, as JSON text (`gen_ai.input.messages`) or one string
per message, and the indexer stores them again, parsed, in `input` and `output`; a tool span's
arguments and result likewise. Stored twice, they were over half of a step's bytes and of
PostgreSQL's COPY time. `compact` replaces such an attribute's value by "" and records under
`raw["elided"]` how to write it again: pieces of literal text and references to strings in the
step's columns, each with how it was written (as is, or as a JSON string, with or without
non-ASCII escaped). Each piece is a slice of the received text or a string found written at that
place in it, so `restore` gives the text back exactly; references are by key and index, which
survive jsonb's reordering of keys. Every reader of `raw` goes through `restore`
(`Step.received()`); `tracing.dedupe` reads `QUERIED` attributes in SQL, so those are never elided.
"""
from __future__ import annotations

from collections.abc import Iterable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

import orjson

from tracing.dedupe import RESPONSE_ID

MIN_CHARS = 256  # an attribute shorter than this, or whose recipe would save less, is kept whole
LEAF_CHARS = 64  # the shortest string of a column a recipe refers to
PROBE_CHARS = 40
# Where referenced strings live: the step's columns that hold text taken from the attributes.
COLUMNS = ("input", "output", "system_instructions", "tool_definitions", "tool_arguments", "tool_result",
           "tool_calls", "reasoning", "error_message", "attributes", "metadata")
QUERIED = frozenset({RESPONSE_ID})  # attributes tracing.dedupe reads inside SQL: never elided
TEXT, JSON, JSON_ASCII = "text", "json", "json_ascii"


def _encode(text: str, how: str) -> str:
    """`text` as written: as is, or as json.dumps writes a string, with or without non-ASCII escaped
    (orjson writes it as json.dumps(ensure_ascii=False) does, ~15x faster)."""
    if how == TEXT:
        return text
    if how == JSON_ASCII:
        return encode_basestring_ascii(text)
    try:
        return orjson.dumps(text).decode()
    except TypeError:  # a lone surrogate
        return encode_basestring(text)


def _leaves(columns: dict[str, Any]) -> dict[str, list]:
    """{string: path} for each string of at least LEAF_CHARS in the columns (its first place), in
    the order they are written in (an attribute's JSON text holds them in that order too)."""
    found: dict[str, list] = {}
    stack: list[tuple[list, Any]] = [([], columns)]
    while stack:  # scalars are looked at in place: only containers are pushed and get a path
        path, container = stack.pop()
        items: Iterable[tuple[Any, Any]]
        if type(container) is dict:  # a key that is not a string would not survive storage
            items = [(k, v) for k, v in container.items() if type(k) is str]
        else:
            items = enumerate(container)
        inner = []
        for key, value in items:
            kind = type(value)
            if kind is str:
                if len(value) >= LEAF_CHARS and value not in found:
                    found[value] = [*path, key]
            elif (kind is dict or kind is list) and value:
                inner.append(([*path, key], value))
        stack.extend(reversed(inner))
    return found


def _find(text: str, written: str, begin: int, end: int) -> int:
    """Where `written` starts in text[begin:end], or -1. Finding a long needle costs its length:
    find its last characters (its first are often shared: '"The user asks'), then compare."""
    offset = max(len(written) - PROBE_CHARS, 0)
    probe = written[offset:]
    at = text.find(probe, begin + offset, end)
    while at >= 0 and not text.startswith(written, at - offset):
        at = text.find(probe, at + 1, end)
    return at - offset if at >= 0 else -1


def _recipe(text: str, leaves: dict[str, list], written: dict) -> list | None:
    """Literal pieces and references that rebuild `text` exactly, or None when they save little.
    `written`: each leaf's JSON form, cached across the attributes of a span."""
    path = leaves.get(text)
    if path is not None:
        return [{"ref": path, "as": TEXT}]
    if text.lstrip()[:1] not in ("[", "{"):
        return None
    cuts = []  # (start, end, path, how): where a leaf is written in the JSON text
    hint = 0  # leaves come in the order they are written: look after the last one first
    for leaf, path in leaves.items():
        for how in (JSON,) if leaf.isascii() else (JSON, JSON_ASCII):
            form = written.get((leaf, how))
            if form is None:
                form = written[leaf, how] = _encode(leaf, how)
            start = _find(text, form, hint, len(text))
            if start < 0 and hint:
                start = _find(text, form, 0, hint + len(form))
            if start >= 0:
                cuts.append((start, start + len(form), path, how))
                hint = start + len(form)
                break
    if not cuts:
        return None
    recipe: list = []
    end = saved = 0
    for start, stop, path, how in sorted(cuts, key=lambda c: (c[0], -c[1])):
        if start < end:  # overlaps the previous reference (hostile text can make that happen)
            continue
        if start > end:
            recipe.append(text[end:start])
        recipe.append({"ref": path, "as": how})
        saved += stop - start
        end = stop
    if end < len(text):
        recipe.append(text[end:])
    return recipe if saved >= MIN_CHARS else None


def _follow(recipe: list, columns: dict[str, Any]) -> str:
    out = []
    for piece in recipe:
        if isinstance(piece, str):
            out.append(piece)
            continue
        value: Any = columns
        for key in piece["ref"]:
            value = value[key]
        if not isinstance(value, str):
            raise KeyError(piece["ref"])
        out.append(_encode(value, piece["as"]))
    return "".join(out)


def compact(raw: dict, columns: dict[str, Any]) -> dict:
    """`raw` with each long attribute string that the columns already hold replaced by "" and its
    recipe under raw["elided"]; `raw` itself when there is none."""
    attributes = raw.get("attributes")
    if not isinstance(attributes, dict):
        return raw
    long = [(k, v) for k, v in attributes.items() if isinstance(v, str) and len(v) >= MIN_CHARS and k not in QUERIED]
    if not long:
        return raw
    leaves = _leaves(columns)
    if not leaves:
        return raw
    # Exact by construction (tested through the database against restore): no check after.
    written: dict = {}
    elided = {key: recipe for key, text in long if (recipe := _recipe(text, leaves, written)) is not None}
    if not elided:
        return raw
    return {**raw, "attributes": {k: "" if k in elided else v for k, v in attributes.items()}, "elided": elided}


def restore(raw: Any, columns: dict[str, Any]) -> dict:
    """The span as received from a stored `raw` (compacted or not) and the step's columns."""
    if not isinstance(raw, dict):
        return {}
    elided = raw.get("elided")
    if not isinstance(elided, dict):
        return raw
    attributes = dict(raw.get("attributes") or {})
    for key, recipe in elided.items():
        try:
            attributes[key] = _follow(recipe, columns)
        except (KeyError, IndexError, TypeError):  # a column was changed after indexing: say so, do not guess
            attributes[key] = "[Sagatrace: this value could not be restored from the stored step]"
    restored = {k: v for k, v in raw.items() if k != "elided"}
    restored["attributes"] = attributes
    return restored


def step_columns(step) -> dict[str, Any]:
    return {name: getattr(step, name) for name in COLUMNS}
