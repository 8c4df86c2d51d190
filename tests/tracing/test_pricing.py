"""tracing.pricing: costs computed from genai-prices' own price data, to the cent.

Expected numbers are worked out by hand in each test from the per-million rates the
installed genai-prices package holds, never from tracing.pricing itself.
"""
import time
import warnings
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import genai_prices
from genai_prices import Usage, calc_price
from genai_prices.data import providers as bundled_providers
from genai_prices.data_snapshot import get_snapshot

from tracing.pricing import Cost, cache_savings, price

AT = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
M = Decimal(1_000_000)


def rates(provider: str, model: str, at: datetime = AT):
    """The model's per-million prices straight from genai-prices' data."""
    _, info = get_snapshot().find_provider_model(model, None, provider, None)
    return info.get_prices(at)


def cents(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def summed(cost: Cost) -> Decimal:
    return sum((Decimal(v) for v in cost.breakdown.values()), Decimal(0))


def llm(**kw):
    """price() with every token argument spelled out, unreported unless given."""
    args = dict(input_tokens=None, output_tokens=None, cache_read_tokens=None, cache_write_tokens=None,
                reasoning_tokens=None, reported_cost=None, at=AT)
    return price(**{**args, **kw})


# --- real numbers -------------------------------------------------------------------


def test_gpt4o_cached_and_reasoning_tokens_are_priced_to_the_cent():
    r = rates("openai", "gpt-4o")
    assert (r.input_mtok, r.cache_read_mtok, r.output_mtok) == (Decimal("2.5"), Decimal("1.25"), Decimal("10"))
    cost = llm(provider="openai", model="gpt-4o", input_tokens=1_000_000, cache_read_tokens=400_000,
               output_tokens=200_000, reasoning_tokens=50_000)
    # input includes the cached tokens; output includes the reasoning tokens.
    expected = (600_000 * r.input_mtok + 400_000 * r.cache_read_mtok
                + 150_000 * r.output_mtok + 50_000 * r.output_mtok) / M
    assert cost.total == expected
    assert cents(cost.total) == Decimal("4.00")  # 1.50 + 0.50 + 1.50 + 0.50
    assert cost.breakdown == {"input": "1.5", "cache_read": "0.5", "output": "1.5", "reasoning": "0.5"}
    assert (cost.source, cost.model_ref) == ("computed", "openai/gpt-4o")


def test_small_gpt4o_call_keeps_exact_sub_cent_decimals():
    r = rates("openai", "gpt-4o")
    cost = llm(provider="openai", model="gpt-4o", input_tokens=1_200, cache_read_tokens=800, output_tokens=300,
               reasoning_tokens=100)
    expected = (400 * r.input_mtok + 800 * r.cache_read_mtok + 300 * r.output_mtok) / M
    assert cost.total == expected == Decimal("0.005")
    assert isinstance(cost.total, Decimal)
    assert "1,200 input tokens (800 cache reads at $1.25/M" in cost.note
    assert "genai-prices 0.2.3" in cost.note


def test_claude_cache_writes_are_priced_at_the_write_rate_and_reads_at_the_read_rate():
    r = rates("anthropic", "claude-sonnet-4-5")
    cost = llm(provider="anthropic", model="claude-sonnet-4-5", input_tokens=190_000, cache_read_tokens=120_000,
               cache_write_tokens=40_000, output_tokens=20_000)
    # 190k input stays under the 200k long-context tier, so the base rates apply.
    expected = (30_000 * r.input_mtok.base + 120_000 * r.cache_read_mtok.base
                + 40_000 * r.cache_write_mtok.base + 20_000 * r.output_mtok.base) / M
    assert cost.total == expected == Decimal("0.576")  # 0.09 + 0.036 + 0.15 + 0.30
    assert cents(cost.total) == Decimal("0.58")
    assert cost.breakdown == {"input": "0.09", "cache_read": "0.036", "cache_write": "0.15", "output": "0.3"}


def test_long_context_tier_applies_to_every_token_once_input_crosses_the_threshold():
    r = rates("anthropic", "claude-sonnet-4-5")
    assert r.input_mtok.tiers[0].start == 200_000
    cost = llm(provider="anthropic", model="claude-sonnet-4-5", input_tokens=300_000, cache_read_tokens=100_000,
               output_tokens=10_000)
    expected = (200_000 * r.input_mtok.tiers[0].price + 100_000 * r.cache_read_mtok.tiers[0].price
                + 10_000 * r.output_mtok.tiers[0].price) / M
    assert cost.total == expected == Decimal("1.485")  # 1.20 + 0.06 + 0.225
    assert cents(cost.total) == Decimal("1.49")


def test_reasoning_tokens_use_their_own_rate_when_genai_prices_has_one():
    r = rates("perplexity", "sonar-deep-research")
    assert r.output_reasoning_mtok != r.output_mtok
    cost = llm(provider="perplexity", model="sonar-deep-research", input_tokens=100_000, output_tokens=500_000,
               reasoning_tokens=300_000)
    expected = (100_000 * r.input_mtok + 200_000 * r.output_mtok + 300_000 * r.output_reasoning_mtok) / M
    assert cost.total == expected == Decimal("2.7")  # 0.20 + 1.60 + 0.90
    assert cost.breakdown["reasoning"] == "0.9"


def test_reasoning_tokens_are_not_double_counted():
    with_split = llm(provider="openai", model="gpt-4o", input_tokens=10, output_tokens=1_000, reasoning_tokens=700)
    without = llm(provider="openai", model="gpt-4o", input_tokens=10, output_tokens=1_000)
    assert with_split.total == without.total
    assert Decimal(with_split.breakdown["reasoning"]) == 700 * rates("openai", "gpt-4o").output_mtok / M


def test_breakdown_parts_sum_exactly_to_the_total():
    for kw in (
        dict(provider="openai", model="gpt-4o", input_tokens=1_234, cache_read_tokens=567, output_tokens=89,
             reasoning_tokens=13),
        dict(provider="anthropic", model="claude-sonnet-4-5", input_tokens=250_001, cache_read_tokens=3,
             cache_write_tokens=7, output_tokens=11),
        dict(provider="perplexity", model="sonar", input_tokens=5, output_tokens=5),  # has a per-request fee
    ):
        cost = llm(**kw)
        assert summed(cost) == cost.total, kw


def test_per_request_fee_appears_as_other_and_the_total_is_genai_prices_own():
    r = rates("perplexity", "sonar")
    cost = llm(provider="perplexity", model="sonar", input_tokens=1_000, output_tokens=100)
    expected = (1_000 * r.input_mtok + 100 * r.output_mtok) / M + r.requests_kcount / 1_000
    assert cost.total == expected
    assert Decimal(cost.breakdown["other"]) == r.requests_kcount / 1_000
    assert "other charges" in cost.note


def test_request_time_selects_dated_prices():
    # claude-sonnet-4-6 dropped its long-context surcharge from 2026-03-13 in genai-prices' data.
    before, after = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    old, new = rates("anthropic", "claude-sonnet-4-6", before), rates("anthropic", "claude-sonnet-4-6", after)
    kw = dict(provider="anthropic", model="claude-sonnet-4-6", input_tokens=300_000, output_tokens=0)
    assert llm(**kw, at=before).total == 300_000 * old.input_mtok.tiers[0].price / M == Decimal("1.8")
    assert llm(**kw, at=after).total == 300_000 * new.input_mtok / M == Decimal("0.9")


def test_time_of_day_prices_are_not_cached_across_calls():
    # deepseek-chat is cheaper off-peak; the same tokens on the same day cost differently.
    peak, off_peak = datetime(2025, 10, 1, 12, 0, tzinfo=UTC), datetime(2025, 10, 1, 20, 0, tzinfo=UTC)
    kw = dict(provider="deepseek", model="deepseek-chat", input_tokens=1_000_000, output_tokens=0)
    assert llm(**kw, at=peak).total == rates("deepseek", "deepseek-chat", peak).input_mtok
    assert llm(**kw, at=off_peak).total == rates("deepseek", "deepseek-chat", off_peak).input_mtok
    assert llm(**kw, at=peak).total != llm(**kw, at=off_peak).total


# --- unpriced, reported, zero -------------------------------------------------------


def test_unknown_model_is_unpriced_not_zero():
    cost = llm(provider="openai", model="definitely-not-a-model-9000", input_tokens=1_000, output_tokens=10)
    assert cost.total is None
    assert cost.source == "unpriced"
    assert cost.breakdown == {}
    assert "definitely-not-a-model-9000" in cost.note


def test_known_model_with_zero_tokens_costs_exactly_zero():
    cost = llm(provider="openai", model="gpt-4o", input_tokens=0, output_tokens=0)
    assert cost.total == Decimal(0)
    assert cost.total is not None and cost.source == "computed"


def test_unknown_model_with_zero_tokens_is_still_unpriced():
    assert llm(provider="", model="mystery", input_tokens=0, output_tokens=0).total is None


def test_no_token_counts_reported_is_unpriced_rather_than_free():
    cost = llm(provider="openai", model="gpt-4o")
    assert (cost.total, cost.source, cost.model_ref) == (None, "unpriced", "openai/gpt-4o")


def test_missing_model_name_is_unpriced():
    assert llm(provider="openai", model="", input_tokens=5).source == "unpriced"


def test_reported_cost_wins_and_its_breakdown_is_empty():
    cost = llm(provider="openai", model="gpt-4o", input_tokens=1_000, output_tokens=100,
               reported_cost=Decimal("0.0123"))
    assert (cost.total, cost.source, cost.breakdown) == (Decimal("0.0123"), "reported", {})
    assert "reported" in cost.note and "computes $0.0035" in cost.note  # the computed figure, for comparison
    assert cost.model_ref == "openai/gpt-4o"


def test_reported_cost_for_an_unknown_model_is_still_reported():
    cost = llm(provider="", model="in-house-llm", input_tokens=10, reported_cost=Decimal("0.5"))
    assert (cost.total, cost.source) == (Decimal("0.5"), "reported")


def test_a_reported_cost_no_call_could_cost_is_ignored_with_the_reason():
    """Wrong units (micro-dollars as dollars) or garbage: not counted, and it would overflow what is stored."""
    cost = llm(provider="openai", model="gpt-4o", input_tokens=1_000, output_tokens=100, reported_cost=Decimal("1e15"))
    assert (cost.total, cost.source) == (Decimal("0.0035"), "computed")  # the tokens' price instead
    assert "reported $1000000000000000 was ignored" in cost.note
    unknown = llm(provider="", model="in-house-llm", input_tokens=10, reported_cost=Decimal("10000"))
    assert (unknown.total, unknown.source) == (None, "unpriced")
    assert "reported $10000 was ignored: no call costs $10,000 or more" in unknown.note
    assert llm(provider="", model="in-house-llm", reported_cost=Decimal("9999.99")).total == Decimal("9999.99")


def test_token_counts_no_call_could_have_are_unpriced_with_the_reason():
    cost = llm(provider="openai", model="gpt-4o", input_tokens=1_000, output_tokens=9 * 10**9, cache_read_tokens=500)
    assert (cost.total, cost.source, cost.cache_savings) == (None, "unpriced", None)
    assert "would cost $90000.001875 at openai/gpt-4o's rates" in cost.note and "not plausible" in cost.note
    assert cache_savings(provider="openai", model="gpt-4o", input_tokens=10**11, cache_read_tokens=10**11) is None


def test_cache_tokens_exceeding_input_are_unpriced_with_the_reason():
    cost = llm(provider="openai", model="gpt-4o", input_tokens=100, cache_read_tokens=500, output_tokens=1)
    assert cost.total is None and cost.source == "unpriced"
    assert "exceed input tokens" in cost.note


def test_reasoning_exceeding_output_is_unpriced():
    assert llm(provider="openai", model="gpt-4o", input_tokens=1, output_tokens=5, reasoning_tokens=9).total is None


def test_negative_token_counts_are_unpriced():
    assert llm(provider="openai", model="gpt-4o", input_tokens=-1, output_tokens=5).total is None


# --- matching -----------------------------------------------------------------------


def test_empty_or_unknown_provider_is_matched_by_model_name():
    expected = llm(provider="openai", model="gpt-4o", input_tokens=1_000).total
    for provider in ("", "my-corporate-proxy", "OpenAI"):
        cost = llm(provider=provider, model="gpt-4o", input_tokens=1_000)
        assert (cost.total, cost.model_ref) == (expected, "openai/gpt-4o"), provider


def test_otel_provider_names_resolve_to_genai_prices_providers():
    assert llm(provider="gcp.gen_ai", model="gemini-2.5-pro", input_tokens=1).model_ref == "google/gemini-2.5-pro"
    assert llm(provider="openai.chat", model="gpt-4o", input_tokens=1).model_ref == "openai/gpt-4o"


def test_dated_and_vendor_prefixed_model_names_match():
    assert llm(provider="anthropic", model="claude-sonnet-4-5-20250929", input_tokens=1).model_ref == \
        "anthropic/claude-sonnet-4-5"
    assert llm(provider="", model="anthropic/claude-sonnet-4.5", input_tokens=1).model_ref == \
        "anthropic/claude-sonnet-4-5"


def test_price_version_names_the_installed_genai_prices():
    assert llm(provider="openai", model="gpt-4o", input_tokens=1).price_version == genai_prices.__version__


# --- agrees with genai-prices everywhere ---------------------------------------------


def test_total_matches_genai_prices_calc_price_for_every_bundled_model():
    usages = [
        dict(input_tokens=1_234, cache_read_tokens=200, cache_write_tokens=34, output_tokens=567,
             reasoning_tokens=89),
        dict(input_tokens=250_000, cache_read_tokens=50_000, output_tokens=1_000),  # past common tier starts
    ]
    checked = 0
    for prov in bundled_providers:
        for model in prov.models:
            for u in usages:
                gp_usage = Usage(input_tokens=u["input_tokens"], cache_read_tokens=u.get("cache_read_tokens"),
                                 cache_write_tokens=u.get("cache_write_tokens"), output_tokens=u["output_tokens"],
                                 output_reasoning_tokens=u.get("reasoning_tokens"))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        expected = calc_price(gp_usage, model.id, provider_id=prov.id,
                                              genai_request_timestamp=AT).total_price
                except (LookupError, ValueError):
                    continue  # not resolvable by its own id: the name fallback may differ, skip
                cost = llm(provider=prov.id, model=model.id, **u)
                assert cost.total == expected, (prov.id, model.id, u)
                assert summed(cost) == cost.total, (prov.id, model.id, u)
                checked += 1
    assert checked > 2_000


# --- cache savings ------------------------------------------------------------------


def test_cache_savings_is_full_input_price_minus_what_the_input_cost():
    r = rates("anthropic", "claude-sonnet-4-5")
    saved = cache_savings(provider="anthropic", model="claude-sonnet-4-5", input_tokens=100_000,
                          cache_read_tokens=80_000, cache_write_tokens=10_000, at=AT)
    full = 100_000 * r.input_mtok.base / M
    paid = (10_000 * r.input_mtok.base + 80_000 * r.cache_read_mtok.base + 10_000 * r.cache_write_mtok.base) / M
    assert saved == full - paid == Decimal("0.2085")  # 0.30 - (0.03 + 0.024 + 0.0375)


def test_a_priced_call_carries_its_cache_savings_as_cache_savings_computes_them():
    for model, provider, tok in [("claude-sonnet-4-5", "anthropic", dict(cache_read_tokens=80_000, cache_write_tokens=10_000)),
                                 ("claude-sonnet-4-5", "anthropic", dict(cache_write_tokens=1_000)),
                                 ("gpt-4o", "openai", dict(cache_read_tokens=400))]:
        cost = price(provider=provider, model=model, input_tokens=100_000, output_tokens=50, at=AT, **tok)
        assert cost.cache_savings == cache_savings(provider=provider, model=model, input_tokens=100_000, at=AT,
                                                   **{"cache_read_tokens": None, **tok})
    reported = price(provider="openai", model="gpt-4o", input_tokens=1_000, output_tokens=50, cache_read_tokens=400,
                     reported_cost=Decimal("0.01"), at=AT)
    assert reported.cache_savings == Decimal("0.0005")  # 400 × ($2.50 − $1.25) / M, whoever reported the cost
    assert price(provider="openai", model="gpt-4o", input_tokens=1_000, output_tokens=50, at=AT).cache_savings is None
    assert price(provider="", model="mystery", input_tokens=1_000, cache_read_tokens=400, at=AT).cache_savings is None


def test_cache_savings_is_negative_when_writes_cost_more_than_reads_saved():
    saved = cache_savings(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1_000,
                          cache_read_tokens=0, cache_write_tokens=1_000, at=AT)
    assert saved < 0


def test_cache_savings_without_cache_tokens_is_zero_and_unknown_model_is_none():
    assert cache_savings(provider="openai", model="gpt-4o", input_tokens=500, cache_read_tokens=None, at=AT) == 0
    assert cache_savings(provider="", model="mystery", input_tokens=500, cache_read_tokens=100, at=AT) is None


def test_price_throughput_is_reported():
    n = 20_000
    start = time.perf_counter()
    for i in range(n):
        llm(provider="openai", model="gpt-4o", input_tokens=1_000 + i, cache_read_tokens=i, output_tokens=200)
    rate = n / (time.perf_counter() - start)
    print(f"\nprice(): {rate:,.0f} calls/s")
