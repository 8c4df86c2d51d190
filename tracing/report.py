"""One run as a self-contained HTML incident report.

A single file others can open anywhere, offline: inline CSS only, no script, no external
asset, and a Content-Security-Policy <meta> that forbids both, so a payload that somehow got
past autoescaping still cannot run or phone home. Every span value goes through Django's
autoescaping (nothing is marked safe). The report names the SHA-256 of the OTLP/JSON export
it was made from, so a reader can check it against that file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.template.loader import render_to_string

from tracing import export
from tracing.indexer import TOKEN_KINDS
from tracing.runs import step_tree

MAX_VALUE_CHARS = 100_000  # per value; the OTLP/JSON export always has the whole of it
TOKEN_PARTS = ("input", "cache_read", "cache_write", "output", "reasoning")


@dataclass
class Text:
    """A value shown as preformatted text, cut at MAX_VALUE_CHARS with the cut said out loud."""

    text: str
    cut: int = 0

    @classmethod
    def of(cls, value: Any) -> Text:
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
        if len(text) > MAX_VALUE_CHARS:
            return cls(text[:MAX_VALUE_CHARS], len(text) - MAX_VALUE_CHARS)
        return cls(text)


@dataclass
class Block:
    title: str
    messages: list[dict] | None = None  # [{"role", "finish_reason", "parts": [{"label", "kind", "body": Text}]}]
    body: Text | None = None


@dataclass
class StepView:
    step: Any
    depth: int
    indent_em: str
    offset: str  # since the run's first step
    took: str
    left_pct: str
    width_pct: str
    blocks: list[Block] = field(default_factory=list)
    tools_offered: list[str] = field(default_factory=list)
    breakdown: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[dict] = field(default_factory=list)


def render_report(run, project, *, exported_by: str, exported_at, steps=None) -> tuple[str, str]:
    """(html, sha256 of the run's OTLP/JSON). `steps` in tree order with `depth`, when already loaded."""
    steps = steps if steps is not None else step_tree(run)
    digest = export.sha256(export.run_otlp_json(steps))
    ctx = {
        "run": run,
        "project": project,
        "steps": _views(steps),
        "took": "—" if run.duration_ms is None else _ms(run.duration_ms),
        "models": _by_model(steps),
        "parts": _cost_parts(steps),
        "sha256": digest,
        "otlp_filename": export.run_filename(run.trace_id),
        "exported_by": exported_by,
        "exported_at": exported_at,
    }
    return render_to_string("exports/report.html", ctx), digest


def _views(steps) -> list[StepView]:
    if not steps:
        return []
    start = min(s.start_ns for s in steps)
    span = max(max(s.end_ns for s in steps) - start, 1)
    return [_view(s, start, span) for s in steps]


def _view(step, start: int, span: int) -> StepView:
    view = StepView(
        step=step,
        depth=getattr(step, "depth", 0),
        indent_em=f"{getattr(step, 'depth', 0) * 1.1:.1f}",
        offset=_ms((step.start_ns - start) / 1e6),
        took=_ms((step.end_ns - step.start_ns) / 1e6),
        left_pct=f"{(step.start_ns - start) / span * 100:.2f}",
        width_pct=f"{max((step.end_ns - step.start_ns) / span * 100, 0.4):.2f}",
        tools_offered=_tool_names(step.tool_definitions),
        breakdown=[(k.replace("_", " "), v) for k, v in (step.cost_breakdown or {}).items()],
        exceptions=[_exception(e.get("attributes") or {}) for e in (step.raw or {}).get("events", [])
                    if e.get("name") == "exception"],
    )
    skip_reasoning = bool(step.reasoning)  # shown once, in its own block
    for title, value in (("System instructions", step.system_instructions), ("Input", step.input)):
        if value not in (None, "", [], {}):
            view.blocks.append(_block(title, value))
    if step.reasoning:
        view.blocks.append(Block("Reasoning", body=Text.of(step.reasoning)))
    if step.output not in (None, "", [], {}):
        view.blocks.append(_block("Output", step.output, skip_reasoning))
    for title, value in (("Tool arguments", step.tool_arguments), ("Tool result", step.tool_result)):
        if value is not None:
            view.blocks.append(Block(title, body=Text.of(value)))
    for title, value in (("Metadata", step.metadata), ("Other attributes", step.attributes)):
        if value:
            view.blocks.append(Block(title, body=Text.of(value)))
    return view


def _ms(ms: float) -> str:
    """Durations precise enough for a timeline of fast steps (the UI's filter rounds to whole ms)."""
    if ms < 10:
        return f"{ms:.3g} ms" if ms else "0 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.3f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)} m {seconds:06.3f} s"


def _exception(attrs: dict) -> dict:
    return {k: Text.of(attrs.get(f"exception.{k}") or "") for k in ("type", "message", "stacktrace")}


def _block(title: str, value, skip_reasoning=False) -> Block:
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return Block(title, messages=[_message(m, skip_reasoning) for m in value])
    if isinstance(value, list) and value and all(isinstance(p, dict) and "type" in p for p in value):
        return Block(title, messages=[{"role": "", "parts": [_part(p) for p in value]}])  # bare parts
    return Block(title, body=Text.of(value))


def _is_message(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("parts"), list)


def _message(message: dict, skip_reasoning: bool) -> dict:
    parts = [p for p in message["parts"] if not (skip_reasoning and isinstance(p, dict) and p.get("type") == "reasoning")]
    return {"role": str(message.get("role") or ""), "finish_reason": str(message.get("finish_reason") or ""),
            "parts": [_part(p) for p in parts]}


def _part(part) -> dict:
    if not isinstance(part, dict):
        return {"kind": "other", "label": "", "body": Text.of(part)}
    kind = str(part.get("type") or "")
    if kind in ("text", "reasoning"):
        return {"kind": kind, "label": "" if kind == "text" else "reasoning", "body": Text.of(part.get("content", ""))}
    if kind == "tool_call":
        label = f"calls {part.get('name') or '?'}" + (f" · {part['id']}" if part.get("id") else "")
        return {"kind": kind, "label": label, "body": Text.of(part.get("arguments"))}
    if kind == "tool_call_response":
        label = "tool result" + (f" · {part['id']}" if part.get("id") else "")
        return {"kind": kind, "label": label, "body": Text.of(part.get("response"))}
    return {"kind": "other", "label": kind or "part", "body": Text.of({k: v for k, v in part.items() if k != "type"})}


def _tool_names(definitions) -> list[str]:
    names = []
    for d in definitions if isinstance(definitions, list) else []:
        if isinstance(d, dict):
            fn = d.get("function") if isinstance(d.get("function"), dict) else d
            names.append(str(fn.get("name") or "?"))
    return names


def _by_model(steps) -> list[dict]:
    """Tokens and cost per model over the LLM/embedding steps (and any step that reported a cost)."""
    rows: dict[tuple[str, str], dict] = {}
    for s in steps:
        if s.kind not in TOKEN_KINDS and not s.cost_source:
            continue
        row = rows.setdefault((s.provider, s.model), {
            "provider": s.provider, "model": s.model or "(unknown model)", "calls": 0, "unpriced": 0,
            "cost": Decimal(0), **{f"{p}_tokens": 0 for p in TOKEN_PARTS}})
        row["calls"] += 1
        for p in TOKEN_PARTS:
            row[f"{p}_tokens"] += getattr(s, f"{p}_tokens") or 0
        if s.cost_usd is None:
            row["unpriced"] += 1
        else:
            row["cost"] += s.cost_usd
    return sorted(rows.values(), key=lambda r: -r["cost"])


def _cost_parts(steps) -> list[tuple[str, Decimal]]:
    """The run's cost split by what was billed (input, cache reads, output, …), from each step's breakdown."""
    totals: dict[str, Decimal] = {}
    for s in steps:
        if s.kind == "agent":
            continue  # agent spans may repeat their children's cost; never summed (as the run total)
        for part, amount in (s.cost_breakdown or {}).items():
            try:
                totals[part] = totals.get(part, Decimal(0)) + Decimal(str(amount))
            except InvalidOperation:
                continue
    return sorted(((part.replace("_", " "), amount) for part, amount in totals.items()), key=lambda kv: -kv[1])
