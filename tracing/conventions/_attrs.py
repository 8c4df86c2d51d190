"""Reading span attributes: tolerant type coercion and exact consumption tracking.

Every mapper reads through one shared `Attrs`. A key counts as consumed only when
its value converted cleanly and was handed to the step, so `unmapped` is exactly
"the attributes whose value did not land anywhere else".
"""
from __future__ import annotations

import math
from bisect import bisect_left
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from ._json import parse_json

# Flattened keys deeper than this are not real convention keys; leave them unmapped.
MAX_SEGMENTS = 24
_MAX_INDEX_DIGITS = 9
# Counts above this are garbage, and would overflow the bigint columns they land in.
_MAX_COUNT = 2**62


def as_str(value: Any) -> str | None:
    """A non-empty string; integers are accepted for id-like values sent as numbers."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value: Any) -> int | None:
    """A non-negative integer count, from int, integral float or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_COUNT else None
    if isinstance(value, float):
        ok = math.isfinite(value) and value.is_integer() and 0 <= value <= _MAX_COUNT
        return int(value) if ok else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) < 20:
            return int(text)
        try:
            return as_int(float(text))
        except ValueError:
            return None
    return None


def as_decimal(value: Any) -> Decimal | None:
    """A non-negative, finite amount of money. str() first so 0.1 stays 0.1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return amount


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def as_str_list(value: Any) -> list[str] | None:
    """A list of strings from an array, a JSON array string or a single string."""
    value = parse_json(value) if isinstance(value, str) and value.lstrip().startswith("[") else value
    if isinstance(value, str):
        return [value] if value.strip() else None
    if isinstance(value, (list, tuple)):
        items = [s for s in map(as_str, value) if s is not None]
        return items or None
    return None


def as_tags(value: Any) -> list[str] | None:
    """Tags: an array, a JSON array string or a comma-separated string (Langfuse accepts all three)."""
    if isinstance(value, str) and not value.lstrip().startswith("["):
        tags = [t.strip() for t in value.split(",")]
        return [t for t in tags if t] or None
    return as_str_list(value)


def is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit() and len(segment) <= _MAX_INDEX_DIGITS


def span_events(span: Any) -> list[tuple[str, dict]]:
    """(name, attributes) of each span event, skipping malformed ones."""
    events = getattr(span, "events", None)
    out = []
    for event in events if isinstance(events, (list, tuple)) else []:
        name = getattr(event, "name", None)
        attributes = getattr(event, "attributes", None)
        if isinstance(name, str):
            out.append((name, attributes if isinstance(attributes, dict) else {}))
    return out


class _Node(dict):
    """An intermediate node built by `unflatten` (as opposed to a dict attribute value)."""


def unflatten(flat: dict[str, Any]) -> tuple[Any, list[str]]:
    """Rebuild nesting from dotted keys; all-integer segments become lists, gaps skipped.

    Returns the tree and the keys that were placed (a key clashing with another,
    e.g. both `a` and `a.b`, keeps the first and is not placed).
    """
    root = _Node()
    placed = []
    for path, value in flat.items():
        segments = path.split(".")
        if len(segments) > MAX_SEGMENTS or "" in segments:
            continue
        node = root
        for segment in segments[:-1]:
            child = node.get(segment)
            if child is None:
                child = node[segment] = _Node()
            if not isinstance(child, _Node):
                break
            node = child
        else:
            if segments[-1] not in node:
                node[segments[-1]] = value
                placed.append(path)
    return _listify(root), placed


def _listify(node: Any) -> Any:
    if not isinstance(node, _Node):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(is_index(k) for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return dict(items)


class Attrs:
    """One span's attributes, with the set of keys consumed so far."""

    def __init__(self, attributes: Any):
        self._data: dict = attributes if isinstance(attributes, dict) else {}
        self.consumed: set[str] = set()
        self._keys: list[str] | None = None
        self._sorted: list[str] | None = None

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def keys(self) -> list[str]:
        if self._keys is None:  # every mapper's applies() asks; the attributes never change
            self._keys = [k for k in self._data if isinstance(k, str)]
        return list(self._keys)

    def peek(self, key: str, convert: Callable[[Any], Any] | None = None) -> Any:
        """Read without consuming (for hints such as server.address)."""
        value = self._data.get(key)
        if value is None or convert is None:
            return value
        return convert(value)

    def take(self, key: str, convert: Callable[[Any], Any] | None = None) -> Any:
        """Read and consume; a value that fails conversion (None) stays unmapped."""
        value = self.peek(key, convert)
        if value is not None:
            self.consumed.add(key)
        return value

    def take_str(self, key: str) -> str | None:
        return self.take(key, as_str)

    def take_int(self, key: str) -> int | None:
        return self.take(key, as_int)

    def take_json(self, key: str) -> Any:
        """The value with a JSON string decoded (raw string kept when it is not JSON)."""
        return self.take(key, parse_json)

    def consume(self, *keys: str) -> None:
        self.consumed.update(k for k in keys if k in self._data)

    def has_prefix(self, *prefixes: str) -> bool:
        """Whether any key starts with one of `prefixes`: a binary search of the sorted keys per
        prefix (every mapper's applies() asks, and a span has tens of keys)."""
        if self._sorted is None:
            self._sorted = sorted(self.keys())
        keys = self._sorted
        for prefix in prefixes:
            at = bisect_left(keys, prefix)  # the first key >= prefix: one starting with it, if any
            if at < len(keys) and keys[at].startswith(prefix):
                return True
        return False

    def peek_under(self, prefix: str) -> dict[str, Any]:
        """{suffix: value} for every `prefix.suffix` key."""
        start = prefix + "."
        return {k[len(start):]: v for k, v in self._data.items() if isinstance(k, str) and k.startswith(start)}

    def take_under(self, prefix: str) -> dict[str, Any]:
        found = self.peek_under(prefix)
        self.consumed.update(f"{prefix}.{suffix}" for suffix in found)
        return found

    def take_indexed(self, prefix: str, convert: Callable[[Any], Any] | None = None) -> list[Any]:
        """Entries of `prefix.N.*` keys (integer N only), unflattened, in index order.

        With `convert`, an entry it maps to None is dropped and its keys stay unmapped.
        """
        groups: dict[str, dict[str, Any]] = {}
        for suffix, value in self.peek_under(prefix).items():
            index = suffix.split(".", 1)[0]
            if is_index(index):
                groups.setdefault(index, {})[suffix] = value
        entries = []
        for index in sorted(groups, key=int):
            tree, placed = unflatten(groups[index])
            entry = tree[0] if isinstance(tree, list) and tree else None
            value = entry if convert is None or entry is None else convert(entry)
            if value is not None:
                self.consumed.update(f"{prefix}.{suffix}" for suffix in placed)
                entries.append(value)
        return entries

    def unmapped(self) -> dict[Any, Any]:
        return {k: v for k, v in self._data.items() if k not in self.consumed}
