"""Diff two stored runs: load their steps as public step dicts, align them (tracing.diff),
and shape the result for the diff page and `GET /api/v1/diff`."""
from __future__ import annotations

from typing import Any

from tracing import diff
from tracing.indexer import ns_to_datetime
from tracing.models import Run, Step
from tracing.runs import step_tree

PREVIOUS = "previous"
COLLAPSE_AT = 3  # identical stretches at least this long fold into one <details>
RUN_FIELDS = ("trace_id", "name", "agent", "status", "started_at", "ended_at", "duration_ms", "steps", "llm_calls",
              "tool_calls", "errors", "session_id", "user_id", "tags", "cost_usd", "unpriced_calls")


class DiffError(LookupError):
    """A run that cannot be found or resolved; the message is shown to the user."""


def step_dict(step: Step) -> dict[str, Any]:
    """A step with the JSON API's public field names (ARCHITECTURE.md)."""
    return {
        "trace_id": step.trace_id, "span_id": step.span_id, "parent_span_id": step.parent_span_id or None,
        "kind": step.kind, "name": step.name, "status": step.status,
        "started_at": ns_to_datetime(step.start_ns).isoformat(), "ended_at": ns_to_datetime(step.end_ns).isoformat(),
        "duration_ms": step.duration_ms, "model": step.model, "provider": step.provider,
        "input_tokens": step.input_tokens, "output_tokens": step.output_tokens,
        "cache_read_tokens": step.cache_read_tokens, "cache_write_tokens": step.cache_write_tokens,
        "reasoning_tokens": step.reasoning_tokens,
        "cost_usd": format(step.cost_usd, "f") if step.cost_usd is not None else None,
        "tool_name": step.tool_name, "tool_arguments": step.tool_arguments, "tool_result": step.tool_result,
        "input": step.input, "output": step.output, "reasoning": step.reasoning or None,
        "error": (step.error_message or step.error_type or None) if step.is_error else None,
        "attributes": step.attributes, "depth": getattr(step, "depth", 0),
    }


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
    steps_a = [step_dict(s) for s in step_tree(run_a)]
    steps_b = [step_dict(s) for s in step_tree(run_b)]
    rows = diff.align_runs(steps_a, steps_b)
    return {
        "a": run_dict(run_a), "b": run_dict(run_b), "rows": rows,
        "first_divergence": diff.first_divergence(rows), "totals": diff.totals_delta(steps_a, steps_b),
    }


def display_row(row: dict[str, Any], index: int, first: int | None) -> dict[str, Any]:
    """A row for the page: its position, and its changes split into what the step did and what it cost."""
    return {**row, "index": index, "first": index == first,
            "behaviour_changes": [c for c in row["changes"] if c["field"] in diff.BEHAVIOUR_FIELDS],
            "metric_changes": [c for c in row["changes"] if c["field"] not in diff.BEHAVIOUR_FIELDS]}


def blocks(rows: list[dict[str, Any]], first: int | None) -> list[dict[str, Any]]:
    """Rows grouped for display: stretches of identical rows at least COLLAPSE_AT long fold up."""
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        fold = row["op"] == "same"
        if out and out[-1]["same"] == fold:
            out[-1]["rows"].append(display_row(row, i, first))
        else:
            out.append({"same": fold, "rows": [display_row(row, i, first)]})
    for block in out:
        block["collapsed"] = block["same"] and len(block["rows"]) >= COLLAPSE_AT
    return out


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
