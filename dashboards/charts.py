"""Plotly figures for a run, as JSON-ready dicts; plotly.min.js (served locally) draws them.

Step names reach plotly's hover labels, which understand a little HTML: they are escaped here
so a hostile name shows as text. Money is plotted as float (a picture), and the exact decimal
is in the hover text.
"""
from __future__ import annotations

import html
from decimal import Decimal

KIND_COLOURS = {"llm": "#7c3aed", "tool": "#0891b2", "agent": "#334155", "retrieval": "#ca8a04",
                "embedding": "#db2777", "other": "#64748b"}
_LAYOUT = dict(template="none", height=190, margin=dict(l=56, r=12, t=30, b=34), showlegend=True,
               legend=dict(orientation="h", y=1.18, x=0, font=dict(size=11)), hovermode="closest",
               font=dict(family="system-ui, sans-serif", size=11, color="#374151"),
               paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")


def _label(step) -> str:
    return html.escape(step.name[:60])


def _money(value: Decimal) -> str:
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return f"${text}"


def context_size(steps) -> dict | None:
    """Input tokens of each LLM call in order, split into cached and uncached."""
    import plotly.graph_objects as go  # lazy: only the run page draws charts

    calls = sorted((s for s in steps if s.kind == "llm" and s.input_tokens is not None), key=lambda s: s.start_ns)
    if not calls:
        return None
    x = list(range(1, len(calls) + 1))
    cached = [min(s.cache_read_tokens or 0, s.input_tokens) for s in calls]
    fresh = [s.input_tokens - c for s, c in zip(calls, cached)]
    spans = [s.span_id for s in calls]
    hover = [f"#{i} {_label(s)}<br>{s.input_tokens:,} input tokens ({c:,} cached)"
             for i, s, c in zip(x, calls, cached)]
    fig = go.Figure([
        go.Bar(x=x, y=cached, name="cached", marker_color="#c4b5fd", customdata=spans, hovertext=hover,
               hoverinfo="text"),
        go.Bar(x=x, y=fresh, name="uncached", marker_color="#7c3aed", customdata=spans, hovertext=hover,
               hoverinfo="text"),
    ])
    fig.update_layout(**_LAYOUT, barmode="stack", title=dict(text="Context size (input tokens per LLM call)",
                                                             font=dict(size=12), x=0, y=0.98))
    fig.update_xaxes(title=dict(text="LLM call", font=dict(size=11)), dtick=max(1, len(x) // 12))
    fig.update_yaxes(gridcolor="#e5e7eb", rangemode="tozero")
    return fig.to_dict()


def cumulative_cost(steps) -> dict | None:
    """Running total of the priced steps' cost, in start order; unpriced calls marked, not counted."""
    import plotly.graph_objects as go

    priced = sorted((s for s in steps if s.cost_source and s.kind != "agent"), key=lambda s: s.start_ns)
    if not priced:
        return None
    total, xs, ys, hover, spans, gaps = Decimal(0), [], [], [], [], []
    for i, s in enumerate(priced, 1):
        if s.cost_usd is None:
            gaps.append((i, s))
        else:
            total += s.cost_usd
        xs.append(i)
        ys.append(float(total))
        spans.append(s.span_id)
        cost = "unpriced" if s.cost_usd is None else _money(s.cost_usd)
        hover.append(f"#{i} {_label(s)}<br>this call: {cost}<br>running total: {_money(total)}")
    traces = [go.Scatter(x=xs, y=ys, mode="lines+markers", name="cumulative cost (USD)", line_shape="hv",
                         line_color="#15803d", marker=dict(size=5), customdata=spans, hovertext=hover,
                         hoverinfo="text")]
    if gaps:
        traces.append(go.Scatter(x=[i for i, _ in gaps], y=[ys[i - 1] for i, _ in gaps], mode="markers",
                                 name="unpriced call (not counted)", marker=dict(symbol="x", size=9, color="#b45309"),
                                 customdata=[s.span_id for _, s in gaps], hoverinfo="text",
                                 hovertext=[f"#{i} {_label(s)}<br>unpriced: unknown model" for i, s in gaps]))
    fig = go.Figure(traces)
    fig.update_layout(**_LAYOUT, title=dict(text="Cumulative cost over priced steps", font=dict(size=12), x=0, y=0.98))
    fig.update_xaxes(title=dict(text="priced step", font=dict(size=11)), dtick=max(1, len(xs) // 12))
    fig.update_yaxes(gridcolor="#e5e7eb", rangemode="tozero", tickprefix="$")
    return fig.to_dict()
