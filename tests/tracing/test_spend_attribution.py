"""tracing.spend: attribution arithmetic, to the cent and to the stored 10^-10 $, with Decimal."""
from datetime import datetime, timezone
from decimal import Decimal

from tracing import pricing
from tracing.spend import (ANSWER, costliest_step, from_units, split_cost, split_equally, step_amounts, to_units,
                           trace_buckets)
from tracing.spend_models import TOTALS

T0 = 1_760_000_000_000_000_000  # 2025-10-09 08:53:20 UTC
HOUR = 3600 * 10**9
_ids = iter(range(10**6))


def llm(model="gpt-4o", provider="openai", inp=1000, out=100, cached=None, reasoning=None, tools=(), start=T0,
        parent="root", reported=None, **kw):
    """A stored LLM step as tracing.spend reads it, priced by the real pricing module."""
    cost = pricing.price(provider=provider, model=model, input_tokens=inp, output_tokens=out, cache_read_tokens=cached,
                         reasoning_tokens=reasoning, reported_cost=reported,
                         at=datetime.fromtimestamp(start / 1e9, tz=timezone.utc))
    return {"span_id": f"s{next(_ids)}", "parent_span_id": parent, "kind": "llm", "name": f"chat {model}",
            "start_ns": start, "model": model, "provider": provider, "input_tokens": inp, "output_tokens": out,
            "cache_read_tokens": cached, "cache_write_tokens": None, "reasoning_tokens": reasoning,
            "cost_usd": cost.total, "cost_source": cost.source, "cost_breakdown": cost.breakdown,
            "tool_calls": [{"id": f"c{i}", "name": n, "arguments": {}} for i, n in enumerate(tools)],
            "tool_name": "", "agent_name": "", **kw}


def tool(name, cost=None, start=T0, parent="root"):
    return {"span_id": f"s{next(_ids)}", "parent_span_id": parent, "kind": "tool", "name": name, "start_ns": start,
            "model": "", "provider": "", "input_tokens": None, "output_tokens": None, "cache_read_tokens": None,
            "cache_write_tokens": None, "reasoning_tokens": None,
            "cost_usd": Decimal(cost) if cost is not None else None, "cost_source": "reported" if cost else "",
            "cost_breakdown": {}, "tool_calls": [], "tool_name": name, "agent_name": ""}


def agent(name, span_id="root", parent="", start=T0):
    return {**tool("x", start=start, parent=parent), "span_id": span_id, "kind": "agent", "name": name,
            "tool_name": "", "agent_name": name}


RUN = {"agent": "helper", "user_id": "ana", "session_id": "s1", "tags": ["prod", "eu"]}


def cost(buckets, dim, key):
    return sum((from_units(v["cost_units"]) for (h, d, k), v in buckets.items() if (d, k) == (dim, key)), Decimal(0))


def keys(buckets, dim):
    return {k for (_, d, k) in buckets if d == dim}


# --- arithmetic --------------------------------------------------------------------------


def test_units_are_exact_at_the_stored_precision():
    assert to_units(Decimal("0.0035")) == 35_000_000
    assert from_units(35_000_000) == Decimal("0.0035000000")
    assert to_units(None) == 0


def test_equal_split_gives_the_remainder_to_the_first_and_sums_exactly():
    assert split_equally(10, 3) == [4, 3, 3]
    assert sum(split_equally(-10, 3)) == -10  # cache savings can be negative (write premium)
    parts = split_cost(Decimal("0.01"), 3)
    assert parts == [Decimal("0.0033333334"), Decimal("0.0033333333"), Decimal("0.0033333333")]
    assert sum(parts) == Decimal("0.01")


def test_cached_input_is_priced_at_the_cache_rate_and_its_savings_counted():
    # gpt-4o: $2.50/M input, $1.25/M cached input, $10/M output.
    step = llm(inp=1000, cached=400, out=100)
    assert step["cost_usd"] == Decimal("0.003")  # 600 × 2.5 + 400 × 1.25 + 100 × 10, per million
    amounts = step_amounts(step)
    assert from_units(amounts["cost_units"]) == Decimal("0.003")
    assert from_units(amounts["cache_savings_units"]) == Decimal("0.0005")  # 400 × (2.50 − 1.25) / M
    assert amounts["cache_read_tokens"] == 400 and amounts["input_tokens"] == 1000


def test_reasoning_share_inputs_come_from_the_computed_breakdown():
    # o3-mini: $1.10/M input, $4.40/M output (reasoning billed as output).
    step = llm(model="o3-mini", inp=10_000, out=2_000, reasoning=1_500)
    amounts = step_amounts(step)
    assert from_units(amounts["cost_units"]) == Decimal("0.0198")  # 0.011 input + 0.0088 output
    assert from_units(amounts["output_cost_units"]) == Decimal("0.0088")
    assert from_units(amounts["reasoning_cost_units"]) == Decimal("0.0066")  # 1,500 of 2,000 output tokens


def test_a_reported_cost_wins_and_has_no_reasoning_breakdown():
    amounts = step_amounts(llm(model="o3-mini", inp=10_000, out=2_000, reasoning=1_500, reported=Decimal("0.05")))
    assert from_units(amounts["cost_units"]) == Decimal("0.05")
    assert amounts["output_cost_units"] == amounts["reasoning_cost_units"] == 0


def test_an_unpriced_call_is_counted_apart_never_as_zero_dollars():
    step = llm(model="llama-local-8b", provider="ollama", inp=700, out=300)
    assert step["cost_usd"] is None
    amounts = step_amounts(step)
    assert amounts["unpriced_calls"] == 1 and amounts["unpriced_tokens"] == 1000
    assert amounts["cost_units"] == 0 and amounts["llm_calls"] == 1
    buckets = trace_buckets(RUN, [agent("helper"), step])
    row = buckets[(datetime.fromtimestamp(T0 // HOUR * 3600, tz=timezone.utc), "model", "llama-local-8b")]
    assert row["unpriced_calls"] == 1 and row["cost_units"] == 0


# --- tool attribution ------------------------------------------------------------------


def test_llm_cost_is_split_equally_among_three_requested_tools():
    # gpt-4o, 1,000 in / 100 out = $0.0035, requested search, fetch, search.
    steps = [agent("helper"), llm(tools=("search", "fetch", "search")), tool("search"), tool("fetch"), tool("search")]
    buckets = trace_buckets(RUN, steps)
    assert cost(buckets, "tool", "search") == Decimal("0.0023333334")  # parts 1 and 3; the remainder on part 1
    assert cost(buckets, "tool", "fetch") == Decimal("0.0011666666")
    assert cost(buckets, "tool", "search") + cost(buckets, "tool", "fetch") == Decimal("0.0035")
    assert cost(buckets, TOTALS, "") == Decimal("0.0035")
    assert ANSWER not in keys(buckets, "tool")
    tokens = {k: v["input_tokens"] for (_, d, k), v in buckets.items() if d == "tool"}
    assert tokens == {"search": 667, "fetch": 333}  # split too, remainder to the first
    calls = {k: (v["llm_calls"], v["tool_calls"]) for (_, d, k), v in buckets.items() if d == "tool"}
    assert calls == {"search": (1, 2), "fetch": (1, 1)}  # counts are not split


def test_a_tool_span_that_reports_a_cost_adds_it_to_its_tool():
    steps = [agent("helper"), llm(tools=("browse",)), tool("browse", cost="0.02"), llm(out=50)]
    buckets = trace_buckets(RUN, steps)
    assert cost(buckets, "tool", "browse") == Decimal("0.0035") + Decimal("0.02")
    assert cost(buckets, "tool", ANSWER) == Decimal("0.003")  # 1,000 × 2.5 + 50 × 10, per million
    assert cost(buckets, TOTALS, "") == Decimal("0.0265")
    assert cost(buckets, "model", "") == Decimal("0.02")  # the tool's own cost has no model


def test_every_single_valued_dimension_adds_up_to_the_total():
    steps = [agent("helper"), llm(tools=("a", "b", "c"), cached=300), tool("a", cost="0.001"), tool("b"), tool("c"),
             llm(model="claude-sonnet-4-5", provider="anthropic", out=500), llm(model="mystery", inp=5, out=5)]
    buckets = trace_buckets(RUN, steps)
    total = cost(buckets, TOTALS, "")
    for dim in ("model", "provider", "agent", "tool", "user", "session"):
        assert sum((cost(buckets, dim, k) for k in keys(buckets, dim)), Decimal(0)) == total, dim
    for tag in ("prod", "eu"):  # a run's tags each carry all of it
        assert cost(buckets, "tag", tag) == total


def test_steps_are_attributed_to_the_nearest_enclosing_agent():
    steps = [agent("planner"), agent("researcher", span_id="sub", parent="root"), llm(parent="sub"), llm(parent="root")]
    buckets = trace_buckets({**RUN, "agent": "planner"}, steps)
    assert cost(buckets, "agent", "researcher") == Decimal("0.0035")
    assert cost(buckets, "agent", "planner") == Decimal("0.0035")


def test_a_run_counts_once_per_key_on_its_earliest_hour_and_keeps_its_costliest_step():
    late = llm(start=T0 + 2 * HOUR, out=1000)  # 0.0125: the costliest
    steps = [agent("helper"), llm(), late]
    buckets = trace_buckets(RUN, steps)
    totals = {h: v for (h, d, _), v in buckets.items() if d == TOTALS}
    assert len(totals) == 2
    first, last = sorted(totals)
    assert totals[first]["runs"] == 1 and totals[last]["runs"] == 0
    assert costliest_step(steps) == (late["span_id"], to_units(Decimal("0.0125")))
    assert sum(v["runs"] for (_, d, k), v in buckets.items() if (d, k) == ("model", "gpt-4o")) == 1


def test_an_empty_run_still_counts_as_a_run():
    buckets = trace_buckets(RUN, [agent("helper")])
    assert [v["runs"] for (_, d, _), v in buckets.items() if d == TOTALS] == [1]
    assert keys(buckets, "model") == set() and keys(buckets, "tool") == set()


def test_a_duplicate_llm_span_counts_for_nothing():
    original = llm(tools=("search",))
    repeat = {**llm(model="gpt-4o-2024-08-06", tools=("search",)), "duplicate_of": original["span_id"]}
    buckets = trace_buckets(RUN, [agent("helper"), original, repeat, tool("search")])
    assert cost(buckets, TOTALS, "") == Decimal("0.0035")
    assert keys(buckets, "model") == {"gpt-4o"}  # the repeat's model name adds no row, no run
    assert costliest_step([original, {**repeat, "cost_usd": Decimal("1")}]) == (original["span_id"], 35_000_000)
