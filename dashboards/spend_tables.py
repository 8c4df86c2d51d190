"""The spend page's tables as (header, rows) of plain values: rendered under each chart,
downloaded as CSV (`?format=csv&table=<name>`) and, for breakdowns, returned by the API,
so the three always show the same numbers."""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.http import HttpResponse

from tracing import spend_report
from tracing.spend_report import COLUMNS, GROUPS

PERIODS = ("hour", "day", "week", "month")
TABLES = ("over_time", "breakdown", "cost_per_run", "top_runs", "top_steps", *GROUPS)
EMPTY_KEY = {"model": "(no model)", "provider": "(no provider)", "agent": "(no agent)", "tool": "(none)",
             "user": "(no user)", "session": "(no session)", "tag": "(untagged)", "day": ""}


def money(value: Decimal | None) -> str | None:
    """Money as the API and CSV show it: a plain decimal string, None when unknown."""
    return None if value is None else format(value, "f")


def breakdown_table(rows: list[dict[str, Any]], group_by: str) -> tuple[list[str], list[list[Any]]]:
    header = [group_by, *COLUMNS[1:]]
    body = [[r["key"], *(money(r[c]) if c.endswith("_usd") else r[c] for c in COLUMNS[1:])] for r in rows]
    return header, body


def over_time_table(series: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    header = [series["unit"], "cost_usd", "unpriced_calls", *series["keys"]]
    body = [[r["period"].isoformat(), money(r["cost_usd"]), r["unpriced_calls"],
             *(money(r["by_key"][k]) for k in series["keys"])] for r in spend_report.over_time_rows(series)]
    return header, body


def cost_per_run_table(dist: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return ["cost_from_usd", "cost_to_usd", "runs"], [[money(b["low"]), money(b["high"]), b["runs"]]
                                                      for b in dist["bins"]]


def top_runs_table(runs) -> tuple[list[str], list[list[Any]]]:
    header = ["trace_id", "name", "agent", "status", "started_at", "cost_usd", "unpriced_calls", "llm_calls",
              "tool_calls"]
    return header, [[r.trace_id, r.name, r.agent, r.status, r.started_at.isoformat(), money(r.cost_usd),
                     r.unpriced_calls, r.llm_calls, r.tool_calls] for r in runs]


def top_steps_table(steps) -> tuple[list[str], list[list[Any]]]:
    header = ["trace_id", "span_id", "name", "kind", "model", "tool_name", "cost_usd", "cost_source"]
    return header, [[s["trace_id"], s["span_id"], s["name"], s["kind"], s["model"], s["tool_name"],
                     money(s["cost_usd"]), s["cost_source"]] for s in steps]


def build(name: str, project, f, form_data: dict[str, Any], now) -> tuple[list[str], list[list[Any]]]:
    """Compute one table alone (what a CSV download needs)."""
    if name == "over_time":
        return over_time_table(spend_report.over_time(project, f, form_data["stack"], now))
    if name == "cost_per_run":
        return cost_per_run_table(spend_report.cost_per_run(project, f))
    if name == "top_runs":
        return top_runs_table(spend_report.top_runs(project, f))
    if name == "top_steps":
        return top_steps_table(spend_report.top_steps(project, f))
    group_by = form_data["group_by"] if name == "breakdown" else name
    return breakdown_table(spend_report.breakdown(project, f, group_by), group_by)


def _cell(value: Any) -> Any:
    # Keys come from spans: a leading = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(value):
        return "'" + value
    return "" if value is None else value


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def csv_response(filename: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


LABELS = {
    "cost_usd": "Cost", "unpriced_calls": "Unpriced calls", "unpriced_tokens": "Unpriced tokens", "runs": "Runs",
    "llm_calls": "LLM calls", "tool_calls": "Tool calls", "input_tokens": "Input tok.", "cache_read_tokens": "Cached",
    "cache_write_tokens": "Cache writes", "output_tokens": "Output tok.", "reasoning_tokens": "Reasoning",
    "cache_savings_usd": "Cache savings", "cost_from_usd": "From", "cost_to_usd": "To", "hour": "Hour (UTC)",
    "day": "Day (UTC)", "week": "Week of (UTC)", "month": "Month (UTC)",
}


def display(table: tuple[list[str], list[list[Any]]], dimension: str = "", money_from: int | None = None
            ) -> dict[str, Any]:
    """A table ready for the template: labels, and cells as text (money in dollars, counts with separators).
    Cells keep their exact value in `value` (what the CSV and the API carry). Columns ending in _usd are
    money, and so is every column from `money_from` on (the over-time table's one column per key)."""
    from dashboards.templatetags.sagatrace import usd

    header, rows = table
    money_cols = {i for i, h in enumerate(header) if h.endswith("_usd") or (money_from is not None and i >= money_from)}
    out_rows = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            if i == 0 and not header[0].endswith("_usd"):
                text = v if header[0] in PERIODS else (v or EMPTY_KEY.get(dimension, "(none)"))
                cells.append({"text": text.replace("T00:00:00+00:00", "").replace(":00:00+00:00", ":00"), "num": False,
                              "value": v, "empty": not v})
            elif i in money_cols:
                cells.append({"text": usd(v), "num": True, "value": v})
            else:
                cells.append({"text": f"{v:,}" if isinstance(v, int) else v, "num": True, "value": v})
        out_rows.append(cells)
    labels = [LABELS.get(h, h) if money_from is None or i < money_from else (h or EMPTY_KEY.get(dimension, "(none)"))
              for i, h in enumerate(header)]
    return {"header": labels, "rows": out_rows}
