"""Diff two stored runs: load their steps as public step dicts, align them (tracing.diff),
and shape the result for the diff page and `GET /api/v1/diff`."""
from __future__ import annotations

from typing import Any

from tracing import diff
from tracing.indexer import ns_to_datetime
from tracing.models import Run, Step

PREVIOUS = "previous"
COLLAPSE_AT = 3  # identical stretches at least this long fold into one <details>
RUN_FIELDS = ("trace_id", "name", "agent", "status", "started_at", "ended_at", "duration_ms", "steps", "llm_calls",
              "tool_calls", "errors", "session_id", "user_id", "tags", "cost_usd", "unpriced_calls")


class DiffError(LookupError):
    """A run that cannot be found or resolved; the message is shown to the user."""


# What a diff reads of a step: never the raw span, tool definitions or system instructions.
STEP_VALUES = ("trace_id", "span_id", "parent_span_id", "kind", "name", "is_error", "start_ns", "end_ns", "model",
               "provider", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
               "reasoning_tokens", "cost_usd", "tool_name", "tool_arguments", "tool_result", "input", "output",
               "reasoning", "error_message", "error_type", "attributes", "duplicate_of")


def step_dict(v: dict[str, Any]) -> dict[str, Any]:
    """A step (a STEP_VALUES row) with the JSON API's public field names (ARCHITECTURE.md)."""
    return {
        "trace_id": v["trace_id"], "span_id": v["span_id"], "parent_span_id": v["parent_span_id"] or None,
        "kind": v["kind"], "name": v["name"], "status": "error" if v["is_error"] else "ok",
        "started_at": ns_to_datetime(v["start_ns"]).isoformat(), "ended_at": ns_to_datetime(v["end_ns"]).isoformat(),
        "duration_ms": (v["end_ns"] - v["start_ns"]) / 1e6 if v["end_ns"] >= v["start_ns"] else None,
        "model": v["model"], "provider": v["provider"],
        **{f: v[f] for f in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                             "reasoning_tokens")},
        "cost_usd": format(v["cost_usd"], "f") if v["cost_usd"] is not None else None,
        "tool_name": v["tool_name"], "tool_arguments": v["tool_arguments"], "tool_result": v["tool_result"],
        "input": v["input"], "output": v["output"], "reasoning": v["reasoning"] or None,
        "error": (v["error_message"] or v["error_type"] or None) if v["is_error"] else None,
        "attributes": v["attributes"], "depth": v.get("depth", 0),
        "duplicate_of": v["duplicate_of"] or None,  # tracing.dedupe: repeats that step, counts toward no total
    }


def run_steps(run: Run) -> list[dict[str, Any]]:
    """The run's steps as public dicts in tree order: depth first, siblings by start time, as
    tracing.runs.step_tree orders them (kept on plain rows: a 1,000-step diff skips model instances)."""
    rows = list(Step.objects.filter(project_id=run.project_id, trace_id=run.trace_id)
                .order_by("start_ns", "span_id").values(*STEP_VALUES))
    ids = {r["span_id"] for r in rows}
    children: dict[str, list] = {}
    roots = []
    for r in rows:
        parent = r["parent_span_id"]
        (children.setdefault(parent, []) if parent in ids and parent != r["span_id"] else roots).append(r)
    ordered, seen = [], set()
    stack = [(r, 0) for r in reversed(roots)]
    while stack:
        r, depth = stack.pop()
        if r["span_id"] in seen:  # a cycle in hostile parent links
            continue
        seen.add(r["span_id"])
        r["depth"] = depth
        ordered.append(r)
        stack.extend((c, depth + 1) for c in reversed(children.get(r["span_id"], [])))
    ordered += [r for r in rows if r["span_id"] not in seen]  # parent cycles: never reached, still shown
    return [step_dict(r) for r in ordered]


def run_dict(run: Run) -> dict[str, Any]:
    out = {f: getattr(run, f) for f in RUN_FIELDS}
    out["cost_usd"] = format(run.cost_usd, "f") if run.cost_usd is not None else None
    for f in ("started_at", "ended_at"):
        out[f] = out[f].isoformat() if out[f] else None
    return out


def previous_run(run: Run) -> Run | None:
    """The same agent's run that started last before this one."""
    return (Run.objects.filter(project_id=run.project_id, agent=run.agent, started_at__lt=run.started_at)
            .order_by("-started_at", "-id").first())


def resolve_pair(project, a: str, b: str) -> tuple[Run, Run]:
    """(baseline, compared). `b=previous` compares run a with the previous run of its agent,
    which becomes the baseline (left side), so the delta reads "what changed since"."""
    run_a = _get(project, a, "A")
    if b.strip().lower() == PREVIOUS:
        before = previous_run(run_a)
        if before is None:
            raise DiffError(f"Run {run_a.trace_id} is the first run of agent {run_a.agent or '(none)'!s}: "
                            "there is no previous run to compare with.")
        return before, run_a
    return run_a, _get(project, b, "B")


def _get(project, trace_id: str, side: str) -> Run:
    tid = (trace_id or "").strip().lower()
    if not tid:
        raise DiffError(f"Pick run {side}.")
    run = Run.objects.filter(project=project, trace_id=tid).first()
    if run is None:
        raise DiffError(f"No run with trace id {tid[:64]} in this project (run {side}).")
    return run


def diff_runs(run_a: Run, run_b: Run) -> dict[str, Any]:
    """{a, b, rows, first_divergence, totals}; rows as tracing.diff.align_runs makes them."""
    steps_a, steps_b = run_steps(run_a), run_steps(run_b)
    rows = diff.align_runs(steps_a, steps_b)
    return {
        "a": run_dict(run_a), "b": run_dict(run_b), "rows": rows,
        "first_divergence": diff.first_divergence(rows),
        "totals": diff.totals_delta(_counted(steps_a), _counted(steps_b)),
    }


def _counted(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps as Run totals count them: no duplicate LLM spans, no agent-span cost (it repeats its children's)."""
    return [{**s, "cost_usd": None} if s["kind"] == "agent" else s for s in steps if not s.get("duplicate_of")]


def display_row(row: dict[str, Any], index: int, first: int | None) -> dict[str, Any]:
    """A row for the page: its position, and its changes split into what the step did and what it cost."""
    return {**row, "index": index, "first": index == first,
            "behaviour_changes": [c for c in row["changes"] if c["field"] in diff.BEHAVIOUR_FIELDS],
            "metric_changes": [c for c in row["changes"] if c["field"] not in diff.BEHAVIOUR_FIELDS]}


KIND_WORDS = {"llm": "LLM call", "tool": "tool call", "agent": "agent", "retrieval": "retrieval",
              "embedding": "embedding call", "other": "step"}


def divergence_summary(row: dict[str, Any]) -> str:
    """One sentence for the first divergence."""
    def who(step):
        detail = step.get("tool_name") if step["kind"] == "tool" else step.get("model")
        extra = f" ({detail})" if detail and detail not in step["name"] else ""
        return f"{KIND_WORDS.get(step['kind'], 'step')} “{step['name'][:80]}”{extra}"

    if row["op"] == "added":
        return f"B made an extra {who(row['b'])} that A did not."
    if row["op"] == "removed":
        return f"A made a {who(row['a'])} that B did not."
    fields = [c["field"].replace("_", " ") for c in row["changes"] if c["field"] in diff.BEHAVIOUR_FIELDS]
    listed = fields[0] if len(fields) == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
    if row["a"]["kind"] == row["b"]["kind"] and row["a"]["name"] == row["b"]["name"]:
        return f"Both made the {who(row['a'])}, but its {listed} differ{'s' if len(fields) == 1 else ''}."
    return f"A made the {who(row['a'])} where B made the {who(row['b'])}: {listed} differ{'s' if len(fields) == 1 else ''}."


TOTALS_SHOWN = (
    ("steps", "Steps", "int"), ("llm_calls", "LLM calls", "int"), ("tool_calls", "Tool calls", "int"),
    ("errors", "Errors", "int"), ("input_tokens", "Input tokens", "int"), ("cache_read_tokens", "Cache read tokens", "int"),
    ("cache_write_tokens", "Cache write tokens", "int"), ("output_tokens", "Output tokens", "int"),
    ("reasoning_tokens", "Reasoning tokens", "int"), ("cost_usd", "Cost", "usd"),
    ("unpriced_steps", "Unpriced calls", "int"), ("duration_ms", "Duration", "ms"),
)


def totals_rows(totals: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The totals delta as display rows {label, kind, a, b, delta}, in a fixed order."""
    return [{"label": label, "kind": kind, **totals[key]} for key, label, kind in TOTALS_SHOWN if key in totals]
