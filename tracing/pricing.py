"""Price one LLM call from its token counts, using the `genai-prices` package.

Token semantics in (GenAI): `input_tokens` INCLUDES cache read/write tokens and
`output_tokens` INCLUDES reasoning tokens; None means "not reported".

Rates and matching come from genai-prices only. The common case (a model priced
only by token units this module splits up) is computed here from those rates with
genai-prices' own `calc_unit_price`, because calling `calc_price` costs ~100 us a
span; anything else (per-request fees, unit kinds added by a data update) is
priced by genai-prices itself and the unexplained rest shown as `other`.
tests/tracing/test_pricing.py checks both paths agree with `calc_price` for every
bundled model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices.data_units import unit_data
from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices, Usage, calc_unit_price

from .steps import COST_COMPUTED, COST_REPORTED, COST_UNPRICED

__all__ = ["Cost", "price", "cache_savings", "price_version", "MAX_CALL_COST"]

_ZERO = Decimal(0)
_PER = unit_data["input_tokens"]["per"]  # tokens are priced per million
# Breakdown key -> genai-prices price key. `input` is the uncached rest of the input,
# `output` the non-reasoning rest of the output.
_RATE_KEYS = {
    "input": "input_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
    "output": "output_mtok",
    "reasoning": "output_reasoning_mtok",
}
_REPORTED_UNITS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "output_reasoning_tokens")
# No one call costs this much (a 10M-token context at the dearest rate is ~$1,500): an amount reported
# or computed at or above it is garbage (wrong units, absurd token counts) and is not counted. It would
# also overflow what is stored: a step's cost below $10^10, spend sums in integer units of $10^-10.
MAX_CALL_COST = Decimal(10_000)
# OTel provider names genai-prices does not recognise (conventions.md §7.3).
_PROVIDER_ALIASES = {"gcp.gen_ai": "google"}


def _inert_price_keys() -> frozenset[str]:
    """Price keys that can only bill usage this module never reports (audio, searches,
    ttl-specific cache writes...): their count is 0, so they add nothing."""
    ours = [unit_data[k]["dimensions"] for k in _REPORTED_UNITS]
    inert = set()
    for usage_key, unit in unit_data.items():
        dims = unit.get("dimensions", {})
        is_ancestor = any(dims.items() <= d.items() for d in ours)  # would share our tokens
        if usage_key not in _REPORTED_UNITS and usage_key != "requests" and not is_ancestor:
            inert.add(unit["price_key"])
    return frozenset(inert)


_FAST_KEYS = frozenset(_RATE_KEYS.values()) | _inert_price_keys()


@dataclass(frozen=True, slots=True)
class Cost:
    total: Decimal | None  # USD; None = unpriced, never a made-up 0
    breakdown: dict[str, str] = field(default_factory=dict)  # decimal strings summing exactly to total
    source: str = COST_UNPRICED  # reported | computed | unpriced
    price_version: str = ""  # genai-prices version (+ data timestamp when auto-updated)
    model_ref: str = ""  # "provider/model" genai-prices matched, "" when none
    note: str = ""  # one sentence: how it was computed, or why not
    # What caching saved (as cache_savings() computes it) when the call was priced and used the cache.
    cache_savings: Decimal | None = None


@dataclass(frozen=True, slots=True)
class _Match:
    provider: Provider
    model: ModelInfo
    by_name: bool  # the given provider did not resolve it; matched on the model name alone

    @property
    def ref(self) -> str:
        return f"{self.provider.id}/{self.model.id}"


# --- lookups (cached: this runs for every LLM span) -------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    model_price: ModelPrice
    exact: bool  # the token-only fast path prices it exactly like genai-prices
    raw: dict[str, Any]  # breakdown key -> its price per M (Decimal or TieredPrices), sub-kinds filled in
    flat: dict[str, Decimal] | None  # the rates per M when none is tiered: the same for every call


_snapshot_seen: list[Any] = [None]
_plans: dict[int, _Plan] = {}  # id(ModelPrice) -> how to price with it


def _current_snapshot() -> Any:
    # UpdatePrices can swap the data; cached matches would then point at stale prices.
    snap = data_snapshot.get_snapshot()
    if snap is not _snapshot_seen[0]:
        _lookup.cache_clear()
        _plans.clear()
        _snapshot_seen[0] = snap
    return snap


@lru_cache(maxsize=4096)
def _lookup(provider: str, model: str) -> _Match | None:
    snap = data_snapshot.get_snapshot()
    provider_id = _PROVIDER_ALIASES.get(provider, provider) or None
    attempts = [(model, provider_id, False)] if provider_id else []
    attempts.append((model, None, bool(provider_id)))  # by name, e.g. "my-proxy" or "" provider
    if "/" in model:
        attempts.append((model, "litellm", bool(provider_id)))  # "vendor/model" refs
    for ref, pid, by_name in attempts:
        try:
            prov, info = snap.find_provider_model(ref, None, pid, None)
        except (LookupError, ValueError):
            continue
        return _Match(prov, info, by_name)
    return None


def _plan(model_price: ModelPrice) -> _Plan:
    """How to price with this ModelPrice, worked out once per ModelPrice (genai-prices' data holds
    each; get_prices returns a new one only for price variants, which this module never asks for)."""
    hit = _plans.get(id(model_price))
    if hit is None or hit.model_price is not model_price:
        keys = {k for k, v in model_price.__dict__.items() if v is not None and not k.startswith("_")}
        raw = {key: getattr(model_price, pk) for key, pk in _RATE_KEYS.items()}
        # A sub-kind without its own price is billed at its parent's, as genai-prices does.
        for sub, parent in (("cache_read", "input"), ("cache_write", "input"), ("reasoning", "output")):
            if raw[sub] is None:
                raw[sub] = raw[parent]
        tiered = any(isinstance(v, TieredPrices) for v in raw.values())
        flat = None if tiered else {key: calc_unit_price(v, _PER, 0, _PER) for key, v in raw.items()}
        hit = _plans[id(model_price)] = _Plan(model_price, keys <= _FAST_KEYS, raw, flat)
    return hit


def price_version() -> str:
    snap = _current_snapshot()
    version = genai_prices.__version__
    if getattr(snap, "from_auto_update", False):
        version += f"+data.{snap.timestamp:%Y%m%dT%H%M%S}"
    return version


# --- pricing ------------------------------------------------------------------------


def _count(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is {value!r}, not a token count")
    return value


def _parts(match: _Match, at: datetime, inp: int, cr: int, cw: int, out: int, rs: int):
    """Split the cost into breakdown parts; returns (parts, per-part rate per M, exact)."""
    if cr + cw > inp:
        raise ValueError(f"cache tokens ({cr + cw:,}) exceed input tokens ({inp:,})")
    if rs > out:
        raise ValueError(f"reasoning tokens ({rs:,}) exceed output tokens ({out:,})")
    plan = _plan(match.model.get_prices(at))
    counts = {"input": inp - cr - cw, "cache_read": cr, "cache_write": cw, "output": out - rs, "reasoning": rs}
    if plan.flat is not None:  # what calc_unit_price computes, without looking for tiers per part
        rates = plan.flat
        parts = {key: rates[key] * n / _PER if rates[key] else _ZERO for key, n in counts.items()}
        return parts, rates, plan.exact
    parts, rates = {}, {}
    for key, n in counts.items():
        # Tiers are chosen by the total input, for every kind (genai-prices' cliff model).
        parts[key] = calc_unit_price(plan.raw[key], n, inp, _PER)
        rates[key] = calc_unit_price(plan.raw[key], _PER, inp, _PER)
    return parts, rates, plan.exact


def _money(d: Decimal) -> str:
    return format(d.normalize(), "f") if d else "0"


def _describe(match: _Match, tok: dict[str, int | None], parts, rates, total: Decimal, version: str) -> str:
    def rate(key: str) -> str:
        return f"${_money(rates[key])}/M"

    inp, cr, cw = tok["input"], tok["cache_read"] or 0, tok["cache_write"] or 0
    out, rs = tok["output"], tok["reasoning"] or 0
    if inp is None:
        in_text = "input tokens not reported"
    elif cr or cw:
        sub = [f"{cr:,} cache reads at {rate('cache_read')}"] if cr else []
        sub += [f"{cw:,} cache writes at {rate('cache_write')}"] if cw else []
        in_text = f"{inp:,} input tokens ({', '.join(sub)}, {inp - cr - cw:,} uncached at {rate('input')})"
    else:
        in_text = f"{inp:,} input tokens at {rate('input')}"
    if out is None:
        out_text = "output tokens not reported"
    elif rs and rates["reasoning"] != rates["output"]:
        out_text = f"{out:,} output tokens ({rs:,} reasoning at {rate('reasoning')}, the rest at {rate('output')})"
    elif rs:
        out_text = f"{out:,} output tokens ({rs:,} of them reasoning) at {rate('output')}"
    else:
        out_text = f"{out:,} output tokens at {rate('output')}"
    other = f" plus ${_money(parts['other'])} of other charges (e.g. a per-request fee)" if "other" in parts else ""
    via = " (matched by model name)" if match.by_name else ""
    return (
        f"{in_text} and {out_text}{other} = ${_money(total)} for {match.ref}{via}, "
        f"priced by genai-prices {version}."
    )


def _saved(parts, rates, inp: int) -> Decimal:
    """The whole input at the full input price minus what it cost (see cache_savings)."""
    return calc_unit_price(rates["input"], inp, inp, _PER) - (parts["input"] + parts["cache_read"] + parts["cache_write"])


def _computed(match: _Match, at: datetime, tok: dict[str, int | None]):
    """(total, parts, rates per M) for one call."""
    inp, cr, cw, out, rs = (_count(k, tok[k]) for k in ("input", "cache_read", "cache_write", "output", "reasoning"))
    parts, rates, exact = _parts(match, at, inp, cr, cw, out, rs)
    total = sum(parts.values(), _ZERO)
    if not exact:  # units we don't split (per-request fees...): genai-prices has the last word
        usage = Usage(
            input_tokens=tok["input"], cache_read_tokens=tok["cache_read"], cache_write_tokens=tok["cache_write"],
            output_tokens=tok["output"], output_reasoning_tokens=tok["reasoning"],
        )
        full = match.model.calc_price(usage, match.provider, genai_request_timestamp=at).total_price
        if full != total:
            parts["other"] = full - total
        total = full
    return (total if total else _ZERO), parts, rates


def _keep(key: str, tok: dict[str, int | None]) -> bool:
    # Show input/output whenever reported, sub-kinds only when they occurred.
    if key == "other":
        return True
    if key in ("input", "output"):
        return tok[key] is not None
    return bool(tok[key])


def price(
    *,
    provider: str,
    model: str,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_read_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    reported_cost: Decimal | None = None,
    at: datetime | None = None,
) -> Cost:
    """The cost of one LLM call. `at` is the request (span start) time; naive means UTC."""
    at = at or datetime.now(UTC)
    if reported_cost is not None and not isinstance(reported_cost, Decimal):
        reported_cost = Decimal(str(reported_cost))  # a float from a careless caller: via str, never binary
    version = price_version()  # also invalidates caches if the price data was swapped
    tok = {
        "input": input_tokens, "cache_read": cache_read_tokens, "cache_write": cache_write_tokens,
        "output": output_tokens, "reasoning": reasoning_tokens,
    }
    model_name = (model or "").strip()
    match = _lookup((provider or "").strip().lower(), model_name) if model_name else None
    computed: Decimal | None = None
    why = ""
    if match is None:
        why = f"genai-prices {version} has no price for model {model_name!r}" if model_name else "no model reported"
        why += f" (provider {provider!r})" if provider and model_name else ""
    elif all(v is None for v in tok.values()):
        why = f"no token counts were reported for {match.ref}"
    else:
        try:
            computed, parts, rates = _computed(match, at, tok)
        except ValueError as exc:  # inconsistent counts: say so rather than guess
            why = f"token counts are inconsistent for {match.ref}: {exc}"
        if computed is not None and computed >= MAX_CALL_COST:
            why = (f"these token counts would cost ${_money(computed)} at {match.ref}'s rates, and no call costs "
                   f"${MAX_CALL_COST:,} or more: they are not plausible")
            computed = None
    ref = match.ref if match else ""
    saved = (_saved(parts, rates, input_tokens) if computed is not None and input_tokens is not None
             and (cache_read_tokens or cache_write_tokens) else None)
    ignored = ""
    if reported_cost is not None and reported_cost.is_finite() and reported_cost >= MAX_CALL_COST:
        ignored = f" The reported ${_money(reported_cost)} was ignored: no call costs ${MAX_CALL_COST:,} or more."
        reported_cost = None

    if reported_cost is not None and reported_cost.is_finite() and reported_cost >= 0:
        also = f"genai-prices {version} computes ${_money(computed)}" if computed is not None else why
        return Cost(
            total=reported_cost, breakdown={}, source=COST_REPORTED, price_version=version, model_ref=ref,
            note=f"${_money(reported_cost)} as reported by the instrumentation (no breakdown); {also}.",
            cache_savings=saved,
        )
    if computed is None:
        return Cost(total=None, source=COST_UNPRICED, price_version=version, model_ref=ref,
                    note=f"Unpriced: {why}.{ignored}")
    breakdown = {k: _money(v) for k, v in parts.items() if _keep(k, tok)}
    return Cost(
        total=computed, breakdown=breakdown, source=COST_COMPUTED, price_version=version, model_ref=ref,
        note=_describe(match, tok, parts, rates, computed, version) + ignored, cache_savings=saved,
    )


def cache_savings(
    *,
    provider: str,
    model: str,
    input_tokens: int | None,
    cache_read_tokens: int | None,
    cache_write_tokens: int | None = None,
    at: datetime | None = None,
) -> Decimal | None:
    """What caching saved on this call's input: the whole input at the full input price
    minus what it cost (uncached + cache reads + cache writes). Net of the cache-write
    premium, so it is negative when writes cost more than reads saved. None if unpriced."""
    at = at or datetime.now(UTC)
    _current_snapshot()  # drop cached matches if the price data was swapped
    match = _lookup((provider or "").strip().lower(), (model or "").strip()) if model else None
    if match is None or input_tokens is None:
        return None
    try:
        inp, cr, cw = (_count(k, v) for k, v in (("input", input_tokens), ("cache_read", cache_read_tokens),
                                                  ("cache_write", cache_write_tokens)))
        parts, rates, _ = _parts(match, at, inp, cr, cw, 0, 0)
    except ValueError:
        return None
    saved = _saved(parts, rates, inp)
    return saved if abs(saved) < 10 * MAX_CALL_COST else None  # absurd counts, as price() leaves them unpriced
