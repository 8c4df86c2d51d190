"""The diff rows as the page shows them: each step's one-line summary made once in Python,
so a 1,000-step diff renders without thousands of template filter calls."""
from __future__ import annotations

from typing import Any

from dashboards.templatetags.diff_spend import field_label, metric, metric_delta
from dashboards.templatetags.sagatrace import duration, tokens, usd
from tracing import run_diff


def step_view(step: dict[str, Any] | None, side: str) -> dict[str, Any]:
    if step is None:
        return {"missing": f"not in {side}"}
    name = step["name"] or ""
    detail = step.get("tool_name") if step["kind"] == "tool" else step.get("model")
    metrics = [duration(step["duration_ms"])]
    if step.get("input_tokens") is not None or step.get("output_tokens") is not None:
        metrics.append(f"{tokens(step.get('input_tokens'))} / {tokens(step.get('output_tokens'))} tok")
    if step.get("cost_usd") is not None:
        metrics.append(usd(step["cost_usd"]))
    return {
        "kind": step["kind"], "name": name if len(name) <= 70 else name[:69] + "…",
        "detail": (detail[:40] if detail and detail not in name else ""),
        "error": step.get("error") or "" if step.get("status") == "error" else None,
        "metrics": " · ".join(metrics), "unpriced": step["kind"] == "llm" and step.get("cost_usd") is None,
        "indent": f"{min(int(step.get('depth') or 0), 8) * 0.9:.1f}em",
    }


def row_view(row: dict[str, Any], index: int, first: int | None) -> dict[str, Any]:
    view = run_diff.display_row(row, index, first)
    view["sides"] = [step_view(row["a"], "A"), step_view(row["b"], "B")]
    view["mark"] = {"same": "=", "changed": "~", "added": "+", "removed": "−"}[row["op"]]
    view["metric_line"] = [
        (field_label(c["field"]), f"{metric(c['a'], c['field'])} → {metric(c['b'], c['field'])}",
         metric_delta(c["detail"]["delta"], c["field"]) if c["detail"].get("delta") is not None else "")
        for c in view["metric_changes"]]
    return view


def blocks(rows: list[dict[str, Any]], first: int | None) -> list[dict[str, Any]]:
    """Stretches of identical rows at least run_diff.COLLAPSE_AT long fold into one <details>."""
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        same = row["op"] == "same"
        if not out or out[-1]["same"] != same:
            out.append({"same": same, "rows": []})
        out[-1]["rows"].append(row_view(row, i, first))
    for block in out:
        block["collapsed"] = block["same"] and len(block["rows"]) >= run_diff.COLLAPSE_AT
    return out


def page(result: dict[str, Any]) -> dict[str, Any]:
    """The diff page's context from tracing.run_diff.diff_runs' result."""
    rows, first = result["rows"], result["first_divergence"]
    return {
        **result, "blocks": blocks(rows, first), "totals_rows": run_diff.totals_rows(result["totals"]),
        "divergence": row_view(rows[first], first, first) if first is not None else None,
        "divergence_text": run_diff.divergence_summary(rows[first]) if first is not None else "",
        "counts": {op: sum(r["op"] == op for r in rows) for op in ("same", "changed", "added", "removed")},
    }
