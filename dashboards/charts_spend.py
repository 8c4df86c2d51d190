"""Plotly figures for the spend page, built here and drawn by static/sagatrace/spend.js from a
`<script type="application/json">` block (the CSP forbids inline script).

Keys come from spans: plotly reads a few HTML tags in labels (links among them), so every
label is HTML-escaped — plotly shows the entities as the original text. Money is a float
only here, for drawing; tables keep the exact Decimals.
"""
from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from dashboards.spend_tables import EMPTY_KEY

PALETTE = ["#4f46e5", "#0891b2", "#db2777", "#ca8a04", "#16a34a", "#7c3aed", "#ea580c", "#64748b", "#94a3b8"]
MAX_BARS = 15
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#1d2330")
AXIS = dict(gridcolor="#eef0f3", linecolor="#e3e5ea", automargin=True)


def label(key: str, dimension: str = "") -> str:
    text = key or EMPTY_KEY.get(dimension, "(none)")
    return html.escape(text if len(text) <= 48 else text[:47] + "…")


def _figure(traces: list[go.Bar], height: int = 320, xaxis: dict | None = None, yaxis: dict | None = None,
            **layout: Any) -> dict[str, Any]:
    # One go.Figure(...) call: plotly validates the whole figure once (update_* calls each validate again).
    base = dict(template="none", height=height, font=FONT, paper_bgcolor="#fff", plot_bgcolor="#fff",
                margin=dict(l=60, r=20, t=10, b=40), hoverlabel=dict(font=FONT), showlegend=True,
                legend=dict(orientation="h", y=-0.18, x=0))
    axes = dict(xaxis={**AXIS, **(xaxis or {})}, yaxis={**AXIS, **(yaxis or {})})
    return go.Figure(data=traces, layout={**base, **layout, **axes}).to_plotly_json()


def over_time(series: dict[str, Any], stack: str) -> dict[str, Any]:
    """Stacked bars of priced cost per hour, day, week or month, one colour per key."""
    x = [p.isoformat() for p in series["periods"]]
    traces = [go.Bar(x=x, y=[float(v) for v in series["cost"][key]], name=label(key, stack),
                     marker_color=PALETTE[i % len(PALETTE)],
                     hovertemplate="%{x}<br>%{fullData.name}: $%{y:.4f}<extra></extra>")
              for i, key in enumerate(series["keys"])]
    tick = {"hour": "%b %d %H:00", "month": "%b %Y"}.get(series["unit"], "%b %d")
    return _figure(traces, barmode="stack", bargap=0.15, yaxis=dict(tickprefix="$", rangemode="tozero"),
                   xaxis=dict(type="date", tickformat=tick))


def breakdown(rows: list[dict[str, Any]], group_by: str) -> dict[str, Any]:
    """Horizontal bars of the costliest keys (or days, as columns in date order)."""
    if group_by == "day":
        bars = go.Bar(x=[r["key"] for r in rows], y=[float(r["cost_usd"]) for r in rows], marker_color=PALETTE[0],
                      hovertemplate="%{x}: $%{y:.4f}<extra></extra>")
        return _figure([bars], showlegend=False, yaxis=dict(tickprefix="$"), xaxis=dict(type="category"))
    top = rows[:MAX_BARS][::-1]  # plotly draws the first bar at the bottom
    bars = go.Bar(orientation="h", y=[label(r["key"], group_by) for r in top], x=[float(r["cost_usd"]) for r in top],
                  marker_color=PALETTE[0], customdata=[r["unpriced_calls"] for r in top],
                  hovertemplate="%{y}: $%{x:.4f}<br>unpriced calls: %{customdata}<extra></extra>")
    return _figure([bars], height=max(180, 34 * len(top) + 60), showlegend=False, xaxis=dict(tickprefix="$"),
                   yaxis=dict(type="category"), margin=dict(l=10, r=20, t=10, b=40))


def cost_per_run(bins: list[dict[str, Any]]) -> dict[str, Any]:
    bars = go.Bar(x=[f"${_short(b['low'])}–${_short(b['high'])}" for b in bins], y=[b["runs"] for b in bins],
                  marker_color=PALETTE[1], hovertemplate="%{x}: %{y} runs<extra></extra>")
    return _figure([bars], height=260, showlegend=False, xaxis=dict(type="category", tickangle=-30),
                   yaxis=dict(title=dict(text="runs"), rangemode="tozero"))


def _short(value) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.2f}"
