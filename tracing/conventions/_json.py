"""JSON-string decoding and JSON-safe copies of hostile attribute values."""
from __future__ import annotations

import base64
import math
from typing import Any

import orjson

# Deeper than any real message/arguments payload; bounds recursion on hostile input.
MAX_DEPTH = 64


def parse_json(value: Any) -> Any:
    """Decode a JSON string; anything else, or text that is not JSON, comes back as is.

    A decoded value nested deeper than MAX_DEPTH is refused too (the raw string is kept),
    so later recursive code never sees pathological nesting.
    """
    if not isinstance(value, (str, bytes)):
        return value
    text = value.strip() if isinstance(value, str) else value
    if not text:
        return value
    try:
        decoded = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return value
    if _too_deep(decoded, text):
        return value
    if ("\\u0000" in text) if isinstance(text, str) else (b"\\u0000" in text):
        return _without_nul(decoded)
    return decoded


def _without_nul(value: Any) -> Any:
    """NUL, which PostgreSQL text and jsonb cannot hold, as U+FFFD in every string (as the decoder
    shows it in attribute values): escaped in JSON text (\\u0000) it reached the COPY and failed the batch."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def parse_json_container(value: Any) -> Any:
    """Like parse_json, but only strings holding an object or array are decoded.

    For free-text fields where "42" or "true" must stay text.
    """
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        return parse_json(value)
    return value


def _too_deep(value: Any, text: str | bytes) -> bool:
    """Whether `value` (decoded from, or written as, `text`) nests deeper than MAX_DEPTH."""
    # Nesting deeper than MAX_DEPTH needs more than MAX_DEPTH brackets in the text: skip the walk.
    if isinstance(text, bytes):
        brackets = text.count(b"[") + text.count(b"{")
    else:
        brackets = text.count("[") + text.count("{")
    if brackets <= MAX_DEPTH:
        return False
    # Whether any value sits deeper than MAX_DEPTH (the outermost at 0). Only containers are pushed
    # (decoded messages are mostly strings): one at MAX_DEPTH holding anything is too deep.
    stack = [(value, 0)] if isinstance(value, (dict, list, tuple)) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth >= MAX_DEPTH:
            if depth > MAX_DEPTH or children:
                return True
            continue
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list, tuple)))
    return False


def jsonable(value: Any, depth: int = 0) -> Any:
    """A copy that json.dumps and PostgreSQL jsonb both accept.

    bytes become standard base64 (as OTLP/JSON encodes bytesValue); NaN and infinities,
    which jsonb rejects, become their names; dict keys become strings.
    """
    if depth == 0 and type(value) in (dict, list):
        copy = _plain_copy(value)
        if copy is not None:
            return copy
    if depth > MAX_DEPTH:
        return "[nested too deep]"
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in value]
    # Decimal and anything else exotic: a string keeps the value without losing precision.
    return str(value)


def _plain_copy(value: dict | list) -> dict | list | None:
    """jsonable(value) for the usual value, one that is JSON already (messages parsed from JSON
    text): orjson writes and reads it back in C. None when it may not be: orjson refuses it (bytes,
    sets, Decimal, keys that are not strings, integers past 64 bits, lone surrogates), or writes
    null (for None, but also for NaN and infinities), or it nests past MAX_DEPTH."""
    try:
        text = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError too
        return None
    if b"null" in text or _too_deep(value, text):
        return None
    return orjson.loads(text)
