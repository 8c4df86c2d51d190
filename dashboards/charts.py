"""Plotly figures for a run, as JSON for a `data-figure` attribute; plotly.min.js (served locally)
draws them. No <script> data blocks: the page holds no script element but our static files.

No span content reaches a figure (plotly's labels understand a little HTML): points carry
numbers and span ids only. Money is plotted as float (a picture); the exact decimal is in
the hover text.
"""
from __future__ import annotations

from decimal import Decimal

_LAYOUT = dict(template="none", height=190, margin=dict(l=56, r=12, t=30, b=34), showlegend=True,
               legend=dict(orientation="h", y=1.18, x=0, font=dict(size=11)), hovermode="closest",
               font=dict(family="system-ui, sans-serif", size=11, color="#374151"),
               paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")


def _money(value: Decimal) -> str:
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return f"${text}"


def _figure(traces, title, xtitle, dtick, **layout):
    """Plotly validates every value by default: ~0.4 s for a 2,000-step run. These traces are built
    here from plain numbers, so validation is skipped at request time; tests validate the output."""
    import plotly.graph_objects as go  # lazy: only the run page draws charts

    layout = {**_LAYOUT, **layout, "title": dict(text=title, font=dict(size=12), x=0, y=0.98),
              "xaxis": dict(title=dict(text=xtitle, font=dict(size=11)), dtick=dtick),
              "yaxis": {**dict(gridcolor="#e5e7eb", rangemode="tozero"), **layout.get("yaxis", {})}}
    return go.Figure(data=traces, layout=layout, _validate=False).to_json()


def context_size(steps) -> str | None:
    """Input tokens of each LLM call in order, split into cached and uncached. A click on a bar
    selects its step (customdata is the span id)."""
    calls = sorted((s for s in steps if s.kind == "llm" and s.input_tokens is not None), key=lambda s: s.start_ns)
    if not calls:
        return None
    cached = [min(s.cache_read_tokens or 0, s.input_tokens) for s in calls]
    common = dict(type="bar", x0=1, dx=1, customdata=[s.span_id for s in calls],
                  hovertemplate="LLM call %{x}: %{y:,} %{fullData.name} input tokens<extra></extra>")
    return _figure(
        [dict(common, y=cached, name="cached", marker=dict(color="#c4b5fd")),
         dict(common, y=[s.input_tokens - c for s, c in zip(calls, cached)], name="uncached",
              marker=dict(color="#7c3aed"))],
        "Context size (input tokens per LLM call)", "LLM call", max(1, len(calls) // 12), barmode="stack",
    )


def cumulative_cost(steps) -> str | None:
    """Running total of the priced steps' cost, in start order; unpriced calls marked, not counted."""
    priced = sorted((s for s in steps if s.cost_source and s.kind != "agent"), key=lambda s: s.start_ns)
    if not priced:
        return None
    total, ys, hover, gaps = Decimal(0), [], [], []
    for i, s in enumerate(priced, 1):
        if s.cost_usd is None:
            gaps.append(i)
        else:
            total += s.cost_usd
        ys.append(float(total))
        cost = "unpriced" if s.cost_usd is None else _money(s.cost_usd)
        hover.append(f"step {i}: {cost}<br>total {_money(total)}")  # exact, where the line is a float
    traces = [dict(type="scatter", x0=1, dx=1, y=ys, mode="lines+markers", name="cumulative cost (USD)",
                   line=dict(shape="hv", color="#15803d"), marker=dict(size=4),
                   customdata=[s.span_id for s in priced], hovertext=hover, hoverinfo="text")]
    if gaps:
        traces.append(dict(type="scatter", x=gaps, y=[ys[i - 1] for i in gaps], mode="markers",
                           name="unpriced call (not counted)", marker=dict(symbol="x", size=9, color="#b45309"),
                           customdata=[priced[i - 1].span_id for i in gaps], hoverinfo="text",
                           hovertext=[f"step {i}: unpriced (unknown model)" for i in gaps]))
    return _figure(traces, "Cumulative cost over priced steps", "priced step", max(1, len(priced) // 12),
                   yaxis=dict(tickprefix="$"))
