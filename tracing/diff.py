"""Step-by-step diff of two agent runs.

Pure functions over plain step dicts shaped like the JSON API (`span_id`, `kind`,
`name`, `model`, `tool_name`, `status`, `input`, `output`, `tool_arguments`,
`tool_result`, token counts, `cost_usd` as a decimal string or None, `duration_ms`,
`error`), each run given in tree order (depth first, children by start time).

`align_runs` pairs steps by a longest common subsequence of their signatures; the
steps left between two pairs are paired again on a looser identity (same tool, or
an LLM call with another model) and shown as "changed", the rest as removed/added.
A reordered step therefore shows as removed + added.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from difflib import SequenceMatcher
from typing import Any

Step = dict[str, Any]
Row = dict[str, Any]

# What a step did: any difference makes a matched pair "changed". The error text is
# an outcome like the result, so it counts too.
BEHAVIOUR_FIELDS = (
    "kind", "name", "model", "tool_name", "status", "input", "output", "tool_arguments", "tool_result", "error",
)
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
# How much it cost: listed, flagged with metrics_changed, but never "changed" on their own.
METRIC_FIELDS = (*TOKEN_FIELDS, "cost_usd", "duration_ms")

_MAX_LCS_BITS = 400_000_000  # len(a) * len(b) bits kept for backtracking (~50 MB)
_MAX_TEXT_CHARS = 200_000  # longer text is diffed as one delete + insert around common ends
_MAX_WORD_BITS = 20_000_000
_MAX_JSON_CHANGES = 200  # hostile content can be huge; the step itself still carries all of it
_WORD = re.compile(r"\S+\s*|\s+")  # words keep their trailing space so spaces never align alone


# --- sequence alignment ---------------------------------------------------------------


def _lcs(a: list, b: list, max_bits: int = _MAX_LCS_BITS) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of a and b, earliest matches first."""
    # Trim the common prefix only: trimming a common suffix too would pin repeated
    # steps to the end and undo the earliest-first preference.
    n, m = len(a), len(b)
    lo = 0
    while lo < n and lo < m and a[lo] == b[lo]:
        lo += 1
    mid_a, mid_b = a[lo:], b[lo:]
    if not mid_a or not mid_b:
        mid = []
    elif len(mid_a) * len(mid_b) <= max_bits:
        mid = _lcs_bits(mid_a, mid_b)
    else:  # too big to keep the bit rows (~20k x 20k steps): difflib's heuristic, not minimal
        blocks = SequenceMatcher(None, mid_a, mid_b).get_matching_blocks()
        mid = [(blk.a + k, blk.b + k) for blk in blocks for k in range(blk.size)]
    return [(k, k) for k in range(lo)] + [(i + lo, j + lo) for i, j in mid]


def _lcs_bits(a: list, b: list) -> list[tuple[int, int]]:
    # Bit-parallel LCS (Allison-Dix / Hyyro): one big-int update per element of b
    # instead of a Python loop over len(a) * len(b) cells. Bit k of rows[j] is 1 when
    # the LCS of a[:k+1] and b[:j] is no longer than that of a[:k] and b[:j].
    # Run on the reversed sequences so the greedy backtrack keeps the earliest
    # matches: runs that share a start line up at the start.
    ra, rb = a[::-1], b[::-1]
    n, m = len(ra), len(rb)
    masks: dict[Any, int] = {}
    for i, x in enumerate(ra):
        masks[x] = masks.get(x, 0) | (1 << i)
    full = v = (1 << n) - 1
    rows = [v]
    for y in rb:
        u = v & masks.get(y, 0)
        v = ((v + u) | (v - u)) & full
        rows.append(v)
    pairs = []
    i, j = n, m
    while i and j:
        if ra[i - 1] == rb[j - 1]:
            pairs.append((n - i, m - j))
            i, j = i - 1, j - 1
        elif (rows[j] >> (i - 1)) & 1:
            i -= 1
        else:
            j -= 1
    return pairs


def step_signature(step: Step) -> tuple[str, str, str]:
    """kind + (tool name for tools, model for LLM calls) + span name."""
    kind = step.get("kind") or "other"
    detail = step.get("tool_name") if kind == "tool" else step.get("model") if kind == "llm" else ""
    return (kind, detail or "", step.get("name") or "")


def _loose_key(step: Step) -> tuple[str, ...]:
    # Inside a gap: an LLM call is "the same call, changed" whatever its model or span
    # name (names usually embed the model); a tool only when it is the same tool.
    kind = step.get("kind") or "other"
    if kind in ("llm", "embedding", "retrieval"):
        return (kind,)
    return (kind, (step.get("tool_name") if kind == "tool" else "") or step.get("name") or "")


def align_runs(steps_a: list[Step], steps_b: list[Step]) -> list[Row]:
    """Aligned rows {op, a, b, changes, metrics_changed}; op is same|changed|added|removed."""
    anchors = _lcs([step_signature(s) for s in steps_a], [step_signature(s) for s in steps_b])
    rows: list[Row] = []
    i = j = 0
    for ai, bj in [*anchors, (len(steps_a), len(steps_b))]:
        _align_gap(steps_a[i:ai], steps_b[j:bj], rows)
        if ai < len(steps_a):
            rows.append(_matched(steps_a[ai], steps_b[bj]))
        i, j = ai + 1, bj + 1
    return rows


def _align_gap(gap_a: list[Step], gap_b: list[Step], rows: list[Row]) -> None:
    pairs = _lcs([_loose_key(s) for s in gap_a], [_loose_key(s) for s in gap_b]) if gap_a and gap_b else []
    i = j = 0
    for p, q in [*pairs, (len(gap_a), len(gap_b))]:
        rows.extend(_row("removed", s, None) for s in gap_a[i:p])
        rows.extend(_row("added", None, s) for s in gap_b[j:q])
        if p < len(gap_a):
            rows.append(_matched(gap_a[p], gap_b[q]))
        i, j = p + 1, q + 1


def _row(op: str, a: Step | None, b: Step | None, changes: list | None = None, metrics: bool = False) -> Row:
    return {"op": op, "a": a, "b": b, "changes": changes or [], "metrics_changed": metrics}


def _matched(a: Step, b: Step) -> Row:
    changes = field_changes(a, b)
    did_differ = any(c["field"] in BEHAVIOUR_FIELDS for c in changes)
    metrics = any(c["field"] in METRIC_FIELDS for c in changes)
    return _row("changed" if did_differ else "same", a, b, changes, metrics)


def first_divergence(rows: list[Row]) -> int | None:
    """Index of the first row where the runs did something different, or None."""
    return next((i for i, row in enumerate(rows) if row["op"] != "same"), None)


# --- field-level changes ----------------------------------------------------------------


def field_changes(a: Step, b: Step) -> list[dict[str, Any]]:
    """[{field, a, b, detail}] for every field that differs between two matched steps."""
    out = []
    for f in BEHAVIOUR_FIELDS:
        va, vb = a.get(f), b.get(f)
        if not _same(va, vb) and not _same(_maybe_json(va), _maybe_json(vb)):
            out.append({"field": f, "a": va, "b": vb, "detail": content_detail(va, vb)})
    for f in METRIC_FIELDS:
        va, vb = a.get(f), b.get(f)
        na, nb = (_decimal(va), _decimal(vb)) if f == "cost_usd" else (va, vb)
        if na != nb:
            delta = nb - na if isinstance(na, int | float | Decimal) and isinstance(nb, int | float | Decimal) else None
            shown = format(delta, "f") if isinstance(delta, Decimal) else delta
            out.append({"field": f, "a": va, "b": vb, "detail": {"type": "metric", "delta": shown}})
    return out


def _same(a: Any, b: Any) -> bool:
    # None and "" both mean "nothing" for names, models and errors.
    return (a == b and type(a) is type(b)) or (a in (None, "") and b in (None, ""))


def _decimal(v: Any) -> Decimal | None:
    if v is None or v == "":
        return None
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _maybe_json(v: Any) -> Any:
    # Tool arguments and results often arrive as JSON text; compare them as data.
    if isinstance(v, str) and len(v) <= _MAX_TEXT_CHARS and v.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(v)
        except ValueError:
            pass
    return v


def content_detail(a: Any, b: Any) -> dict[str, Any]:
    """JSON-aware detail for two differing values: json paths, word segments, or plain value."""
    pa, pb = _maybe_json(a), _maybe_json(b)
    if isinstance(pa, dict | list) and isinstance(pb, dict | list):
        return {"type": "json", "changes": json_changes(pa, pb)}
    if isinstance(a, str | None) and isinstance(b, str | None):
        return {"type": "text", "segments": word_diff(a or "", b or "")}
    return {"type": "value"}


def json_changes(a: Any, b: Any, path: str = "$", _out: list | None = None) -> list[dict[str, Any]]:
    """[{path, op: added|removed|changed, a, b[, segments]}]. List items are aligned,
    so an inserted message does not mark every later one changed; paths use b's
    index, or a's for removed items."""
    out: list[dict[str, Any]] = [] if _out is None else _out
    if len(out) >= _MAX_JSON_CHANGES or (a == b and type(a) is type(b)):
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k, va in a.items():
            if k in b:
                json_changes(va, b[k], _key_path(path, k), out)
            else:
                out.append({"path": _key_path(path, k), "op": "removed", "a": va, "b": None})
        out.extend({"path": _key_path(path, k), "op": "added", "a": None, "b": vb} for k, vb in b.items() if k not in a)
    elif isinstance(a, list) and isinstance(b, list):
        keys_a, keys_b = [_canonical(x) for x in a], [_canonical(x) for x in b]
        i = j = 0
        for p, q in [*_lcs(keys_a, keys_b), (len(a), len(b))]:
            paired = min(p - i, q - j)  # unmatched items between anchors: pair up in order
            for k in range(paired):
                json_changes(a[i + k], b[j + k], f"{path}[{j + k}]", out)
            out.extend({"path": f"{path}[{k}]", "op": "removed", "a": a[k], "b": None} for k in range(i + paired, p))
            out.extend({"path": f"{path}[{k}]", "op": "added", "a": None, "b": b[k]} for k in range(j + paired, q))
            i, j = p + 1, q + 1
    else:
        change = {"path": path, "op": "changed", "a": a, "b": b}
        if isinstance(a, str) and isinstance(b, str):
            change["segments"] = word_diff(a, b)
        out.append(change)
    return out[:_MAX_JSON_CHANGES]


def _key_path(path: str, key: Any) -> str:
    key = str(key)
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


def _canonical(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """Word-level segments [("equal"|"delete"|"insert", text), ...]; joining the equal and
    delete texts gives a, the equal and insert texts gives b."""
    if a == b:
        return [("equal", a)] if a else []
    if len(a) + len(b) > _MAX_TEXT_CHARS:  # bounded work on hostile sizes: common ends only
        lo = len(_common_prefix(a, b))
        hi = len(_common_prefix(a[lo:][::-1], b[lo:][::-1]))
        return _merge([("equal", a[:lo]), ("delete", a[lo : len(a) - hi]), ("insert", b[lo : len(b) - hi]),
                       ("equal", a[len(a) - hi :])])
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    pairs = _lcs(wa, wb, _MAX_WORD_BITS)
    segments: list[tuple[str, str]] = []
    i = j = 0
    for p, q in [*pairs, (len(wa), len(wb))]:
        segments += [("delete", "".join(wa[i:p])), ("insert", "".join(wb[j:q]))]
        if p < len(wa):
            segments.append(("equal", wa[p]))
        i, j = p + 1, q + 1
    return _merge(segments)


def _common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


def _merge(segments: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for tag, text in segments:
        if not text:
            continue
        if out and out[-1][0] == tag:
            out[-1] = (tag, out[-1][1] + text)
        else:
            out.append((tag, text))
    return out


# --- run totals ---------------------------------------------------------------------------


def run_totals(steps: list[Step]) -> dict[str, Any]:
    """Counts, tokens by type, cost (None when any LLM call is unpriced), wall-clock ms."""
    totals: dict[str, Any] = {
        "steps": len(steps),
        "llm_calls": sum(s.get("kind") == "llm" for s in steps),
        "tool_calls": sum(s.get("kind") == "tool" for s in steps),
        "errors": sum(s.get("status") == "error" for s in steps),
    }
    for f in TOKEN_FIELDS:
        totals[f] = sum(s.get(f) or 0 for s in steps)
    priced = [s for s in steps if s.get("kind") in ("llm", "embedding") or s.get("cost_usd") not in (None, "")]
    costs = [_decimal(s.get("cost_usd")) for s in priced]
    totals["unpriced_steps"] = sum(c is None for c in costs)
    # An unpriced call has an unknown cost, so the run's total is unknown too, never a low guess.
    totals["cost_usd"] = None if totals["unpriced_steps"] else sum(costs, Decimal(0))
    totals["duration_ms"] = _wall_clock_ms(steps)
    return totals


def totals_delta(steps_a: list[Step], steps_b: list[Step]) -> dict[str, dict[str, Any]]:
    """{metric: {a, b, delta}} with delta = b - a, None when either side is unknown."""
    ta, tb = run_totals(steps_a), run_totals(steps_b)
    return {k: {"a": ta[k], "b": tb[k], "delta": None if ta[k] is None or tb[k] is None else tb[k] - ta[k]} for k in ta}


def _wall_clock_ms(steps: list[Step]) -> float | int | None:
    # Step durations nest, so summing them double counts: use first start to last end,
    # else the longest top-level step.
    starts = [_timestamp(s.get("started_at")) for s in steps]
    ends = [_timestamp(s.get("ended_at")) for s in steps]
    if steps and None not in starts and None not in ends:
        try:
            return (max(ends) - min(starts)).total_seconds() * 1000
        except TypeError:  # naive mixed with aware timestamps
            pass
    ids = {s.get("span_id") for s in steps}
    roots = [s.get("duration_ms") for s in steps if s.get("parent_span_id") not in ids]
    known = [d for d in roots if d is not None]
    return max(known) if known else None


def _timestamp(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    if isinstance(v, str) and v:
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None
