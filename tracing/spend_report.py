"""What the spend page and `GET /api/v1/spend` show, read from SpendBuckets (plus Runs for
run-level numbers), so months of spend never scan Steps.

Filters pick runs, as on the runs list: `model=gpt-4o` keeps the runs that called gpt-4o, and
the numbers are everything those runs spent in the time range. Time is bucketed by the hour a
step started, so ranges are whole UTC hours.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Trunc

from tracing.models import Run, Step
from tracing.spend import COUNTS, SPLIT, from_units
from tracing.spend_models import DIMENSIONS, TOTALS, SpendBucket

GROUPS = (*DIMENSIONS, "day")
STACKS = ("model", "provider", "agent")
SUMMED = (*SPLIT, *COUNTS, "runs")
MONEY = {"cost_units": "cost_usd", "cache_savings_units": "cache_savings_usd",
         "output_cost_units": "output_cost_usd", "reasoning_cost_units": "reasoning_cost_usd"}
# Table columns, in order: what the page tables, the CSV and the API rows carry.
COLUMNS = ("key", "cost_usd", "unpriced_calls", "unpriced_tokens", "runs", "llm_calls", "tool_calls",
           "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
           "cache_savings_usd")
SHARE_PLACES = Decimal("0.0001")
TOP_KEYS = 8  # over-time stacks: the costliest keys, the rest as "other"


@dataclass(frozen=True)
class SpendFilters:
    since: datetime | None = None  # inclusive, floored to the hour
    until: datetime | None = None  # exclusive, ceiled to the hour
    agent: str = ""
    model: str = ""
    provider: str = ""
    user: str = ""
    session: str = ""
    tag: str = ""
    status: str = ""

    def __post_init__(self):
        object.__setattr__(self, "since", floor_hour(self.since))
        object.__setattr__(self, "until", ceil_hour(self.until))

    def dimension_filters(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in DIMENSIONS and getattr(self, f.name)}


def floor_hour(t: datetime | None) -> datetime | None:
    return t.replace(minute=0, second=0, microsecond=0) if t else None


def ceil_hour(t: datetime | None) -> datetime | None:
    floored = floor_hour(t)
    return floored if floored is None or floored == t else floored + timedelta(hours=1)


# --- selections ------------------------------------------------------------------------


def _run_q(project, f: SpendFilters) -> Q:
    """The filters as a condition on trace_id, for buckets and Runs alike."""
    q = Q()
    for dim, key in f.dimension_filters().items():
        q &= Q(trace_id__in=SpendBucket.objects.filter(project=project, dimension=dim, key=key).values("trace_id"))
    if f.status:
        q &= Q(trace_id__in=Run.objects.filter(project=project, status=f.status).values("trace_id"))
    return q


def buckets(project, f: SpendFilters, dimension: str) -> QuerySet:
    qs = SpendBucket.objects.filter(_run_q(project, f), project=project, dimension=dimension)
    if f.since:
        qs = qs.filter(hour__gte=f.since)
    if f.until:
        qs = qs.filter(hour__lt=f.until)
    return qs


def runs(project, f: SpendFilters) -> QuerySet:
    qs = Run.objects.filter(_run_q(project, f), project=project)
    if f.since:
        qs = qs.filter(started_at__gte=f.since)
    if f.until:
        qs = qs.filter(started_at__lt=f.until)
    return qs


def _sums() -> dict[str, Sum]:
    return {f"s_{name}": Sum(name) for name in SUMMED}


def _row(key: str, sums: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key}
    for name in SUMMED:
        value = sums.get(f"s_{name}") or 0
        row[MONEY.get(name, name)] = from_units(value) if name in MONEY else value
    return row


# --- tables -----------------------------------------------------------------------------


def breakdown(project, f: SpendFilters, group_by: str) -> list[dict[str, Any]]:
    """One row per key (or per UTC day), costliest first; days in date order."""
    if group_by == "day":
        qs = buckets(project, f, TOTALS).annotate(day=Trunc("hour", "day")).values("day")
        rows = [_row(r["day"].date().isoformat(), r) for r in qs.annotate(**_sums()).order_by("day")]
        return rows
    qs = buckets(project, f, group_by).values("key").annotate(**_sums())
    rows = [_row(r["key"], r) for r in qs]
    rows.sort(key=lambda r: (-r["cost_usd"], -r["unpriced_calls"], r["key"]))
    return rows


def totals(project, f: SpendFilters) -> dict[str, Any]:
    sums = buckets(project, f, TOTALS).aggregate(**_sums())
    row = _row("", sums)
    row["empty"] = not any(sums.values())
    out, rsn = row["output_cost_usd"], row["reasoning_cost_usd"]
    row["reasoning_share"] = (rsn / out) if out else None  # of output spend, over calls with a breakdown
    return row


def over_time(project, f: SpendFilters, stack: str, now: datetime) -> dict[str, Any]:
    """{unit, periods, keys, cost: {key: [Decimal per period]}, unpriced: [calls per period]}."""
    since = f.since or _first_hour(project, f) or floor_hour(now)
    until = f.until or ceil_hour(now)
    unit = "hour" if until - since <= timedelta(days=3) else "day"
    qs = buckets(project, f, stack).annotate(period=Trunc("hour", unit)).values("period", "key")
    cells = list(qs.annotate(cost=Sum("cost_units"), unpriced=Sum("unpriced_calls")))
    by_key: dict[str, int] = {}
    for c in cells:
        by_key[c["key"]] = by_key.get(c["key"], 0) + (c["cost"] or 0)
    ranked = sorted(by_key, key=lambda k: (-by_key[k], k))
    keys = ranked[:TOP_KEYS] + (["(other)"] if len(ranked) > TOP_KEYS else [])
    periods = _periods(since, until, unit)
    index = {p: i for i, p in enumerate(periods)}
    cost = {k: [0] * len(periods) for k in keys}
    unpriced = [0] * len(periods)
    for c in cells:
        i = index.get(_floor(c["period"], unit))
        if i is None:
            continue
        key = c["key"] if c["key"] in cost else "(other)"
        cost[key][i] += c["cost"] or 0
        unpriced[i] += c["unpriced"] or 0
    return {"unit": unit, "periods": periods, "keys": keys,
            "cost": {k: [from_units(v) for v in vs] for k, vs in cost.items()}, "unpriced": unpriced}


def _first_hour(project, f: SpendFilters) -> datetime | None:
    first = buckets(project, f, TOTALS).order_by("hour").values_list("hour", flat=True).first()
    return first


def _floor(t: datetime, unit: str) -> datetime:
    t = floor_hour(t)
    return t.replace(hour=0) if unit == "day" else t


def _periods(since: datetime, until: datetime, unit: str) -> list[datetime]:
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    t, out = _floor(since, unit), []
    while t < until and len(out) < 5000:
        out.append(t)
        t += step
    return out


def over_time_rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    """The over-time table: one row per period with its total and one column per stacked key."""
    rows = []
    for i, period in enumerate(series["periods"]):
        costs = {k: series["cost"][k][i] for k in series["keys"]}
        rows.append({"period": period, "cost_usd": sum(costs.values(), Decimal(0)),
                     "unpriced_calls": series["unpriced"][i], "by_key": costs})
    return rows


# --- run-level ------------------------------------------------------------------------------

BINS = 12


def cost_per_run(project, f: SpendFilters) -> dict[str, Any]:
    """Distribution of run cost, cost per successful run, runs whose cost is partly unknown."""
    values = list(runs(project, f).values_list("cost_usd", "unpriced_calls", "status"))
    known = sorted(c for c, _, _ in values if c is not None)
    ok = [(c, u) for c, u, s in values if s == Run.OK]
    ok_known = [c for c, _ in ok if c is not None]
    return {
        "runs": len(values),
        "priced_runs": len(known),
        "unknown_cost_runs": sum(1 for c, u, _ in values if c is None and u),
        "partly_unpriced_runs": sum(1 for c, u, _ in values if c is not None and u),
        "median": known[len(known) // 2] if known else None,
        "p90": known[min(len(known) - 1, int(len(known) * 0.9))] if known else None,
        "max": known[-1] if known else None,
        "successful_runs": len(ok),
        "cost_per_successful_run": (sum(ok_known, Decimal(0)) / len(ok_known)).quantize(Decimal("1e-10"))
        if ok_known else None,
        "successful_partly_unpriced": sum(1 for _, u in ok if u),
        "bins": _bins(known),
    }


def _bins(known: list[Decimal]) -> list[dict[str, Any]]:
    """Bins of a round width (1, 2 or 5 × 10^k) from 0 past the largest run cost: [{low, high, runs}]."""
    if not known:
        return []
    width = _round_width(max(known[-1], Decimal("1e-6")) / BINS)
    counts = [0] * (int(known[-1] // width) + 1)
    for c in known:
        counts[int(max(c, Decimal(0)) // width)] += 1
    return [{"low": width * i, "high": width * (i + 1), "runs": n} for i, n in enumerate(counts)]


def _round_width(raw: Decimal) -> Decimal:
    exponent = raw.adjusted()
    for mantissa in (1, 2, 5, 10):
        width = Decimal(mantissa).scaleb(exponent)
        if width >= raw:
            return width
    return Decimal(10).scaleb(exponent)


def top_runs(project, f: SpendFilters, n: int = 10) -> list[Run]:
    return list(runs(project, f).exclude(cost_usd__isnull=True).order_by("-cost_usd", "-started_at")[:n])


def top_steps(project, f: SpendFilters, n: int = 10) -> list[dict[str, Any]]:
    """The costliest step of each run (kept on its totals bucket), costliest first."""
    tops = list(buckets(project, f, TOTALS).filter(top_step_units__isnull=False)
                .order_by("-top_step_units", "trace_id").values_list("trace_id", "top_span_id")[:n])
    found = {(s["trace_id"], s["span_id"]): s for s in Step.objects.filter(
        project=project, trace_id__in={t for t, _ in tops}, span_id__in={s for _, s in tops}).values(
        "trace_id", "span_id", "name", "kind", "model", "provider", "tool_name", "cost_usd", "cost_source",
        "cost_note", "input_tokens", "output_tokens", "start_ns")}
    return [found[k] for k in tops if k in found]


def filter_values(project, f: SpendFilters, dimensions: tuple[str, ...], limit: int = 100) -> dict[str, list[str]]:
    """Keys seen in the time range per dimension, offered as filter suggestions."""
    qs = SpendBucket.objects.filter(project=project, dimension__in=dimensions).exclude(key="")
    if f.since:
        qs = qs.filter(hour__gte=f.since)
    out: dict[str, list[str]] = {d: [] for d in dimensions}
    for dim, key in qs.values_list("dimension", "key").distinct().order_by("dimension", "key")[:limit * len(dimensions)]:
        if len(out[dim]) < limit:
            out[dim].append(key)
    return out
