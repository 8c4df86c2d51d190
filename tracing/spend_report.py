"""What the spend page and `GET /api/v1/spend` show, read from the pre-aggregated spend tables
(plus Runs for run-level numbers), so months of spend never scan Steps: SpendHour cells when
no filter picks runs, else the per-run SpendBuckets of the runs picked.

Filters pick runs, as on the runs list: `model=gpt-4o` keeps the runs that called gpt-4o, and
the numbers are everything those runs spent in the time range. Time is bucketed by the hour a
step started, so ranges are whole UTC hours.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, TruncDay, TruncMonth, TruncWeek

from tracing.models import Run
from tracing.spend import from_units, to_units
from tracing.spend_models import DIMENSIONS, MONEY_UNIT, SUMMED, TOTALS, SpendBucket, SpendHour, SpendRun
from tracing.step_keys import by_trace, keyed

GROUPS = (*DIMENSIONS, "day")
STACKS = ("model", "provider", "agent")
MONEY = {"cost_units": "cost_usd", "cache_savings_units": "cache_savings_usd",
         "output_cost_units": "output_cost_usd", "reasoning_cost_units": "reasoning_cost_usd"}
# Table columns, in order: what the page tables, the CSV and the API rows carry.
COLUMNS = ("key", "cost_usd", "unpriced_calls", "unpriced_tokens", "runs", "llm_calls", "tool_calls",
           "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
           "cache_savings_usd")
SHARE_PLACES = Decimal("0.0001")
# Over-time bar width by range length: at most a few hundred bars, even for years of (or hostile) timestamps.
UNITS = (("hour", timedelta(days=3)), ("day", timedelta(days=180)), ("week", timedelta(days=3 * 365)),
         ("month", timedelta.max))
FINAL_STATUSES = (Run.OK, Run.ERROR)  # set when a run is indexed, never changed after
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

    @property
    def picks_runs(self) -> bool:
        return bool(self.dimension_filters() or self.status)


def within_retention(project, f: SpendFilters, now: datetime) -> SpendFilters:
    """No earlier than the project keeps runs: older hours hold only runs the retention purge removes."""
    cutoff = floor_hour(now - timedelta(days=project.retention_days))
    return f if f.since and f.since >= cutoff else replace(f, since=cutoff)


def floor_hour(t: datetime | None) -> datetime | None:
    return t.replace(minute=0, second=0, microsecond=0) if t else None


def ceil_hour(t: datetime | None) -> datetime | None:
    floored = floor_hour(t)
    return floored if floored is None or floored == t else floored + timedelta(hours=1)


# --- selections ------------------------------------------------------------------------


def _run_q(project, f: SpendFilters, on_spend_run: bool = False) -> Q:
    """The filters as a condition on trace_id (runs that used the model, tool, tag... at any time),
    or, `on_spend_run`, on the SpendRun rows themselves."""
    q = Q()
    for dim, key in f.dimension_filters().items():
        q &= Q(trace_id__in=SpendBucket.objects.filter(project=project, dimension=dim, key=key).values("trace_id"))
    if f.status in FINAL_STATUSES and on_spend_run:
        q &= Q(status=f.status)
    elif f.status in FINAL_STATUSES:
        q &= Q(trace_id__in=SpendRun.objects.filter(project=project, status=f.status).values("trace_id"))
    elif f.status:  # may have changed since the run was indexed (the sweep marks runs incomplete)
        q &= Q(trace_id__in=Run.objects.filter(project=project, status=f.status).values("trace_id"))
    return q


def buckets(project, f: SpendFilters, dimension: str | tuple[str, ...]) -> QuerySet:
    """The spend rows of one dimension (or several) in the range: hourly cells, or per-run rows when
    filters pick runs."""
    by_dimension = {"dimension__in": dimension} if isinstance(dimension, tuple) else {"dimension": dimension}
    if f.picks_runs:
        qs = SpendBucket.objects.filter(_run_q(project, f), project=project, **by_dimension)
    else:
        qs = SpendHour.objects.filter(project=project, **by_dimension)
    if f.since:
        qs = qs.filter(hour__gte=f.since)
    if f.until:
        qs = qs.filter(hour__lt=f.until)
    return qs


def runs(project, f: SpendFilters) -> QuerySet:
    """SpendRun rows of the runs picked that started in the range."""
    qs = SpendRun.objects.filter(_run_q(project, f, on_spend_run=True), project=project)
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


def _costliest_first(row: dict[str, Any]) -> tuple:
    """Breakdown order: cost, then unpriced calls, both descending; then the key in code point order
    (top_of_breakdown's SQL orders the same way)."""
    return -row["cost_usd"], -row["unpriced_calls"], row["key"]


def page(project, f: SpendFilters, group_by: str, stack: str, now: datetime, limit: int) -> dict[str, Any]:
    """What the spend page shows of the range: {totals, series (over time), rows (the first `limit` of
    the breakdown), count (of its rows)}. Filters that pick runs read those runs' own buckets; on
    PostgreSQL in one pass for all three: a 90-day selection of 12,500 runs has its buckets on ~18,000
    heap pages, which a query each for the totals, the breakdown and the chart read three times."""
    if not (f.picks_runs and group_by != "day" and connection.vendor == "postgresql"):
        rows, count = top_of_breakdown(project, f, group_by, limit)
        return {"totals": totals(project, f), "series": over_time(project, f, stack, now), "rows": rows,
                "count": count}
    since, until, unit = _range(project, f, now)
    sums: dict[str, dict[str, dict[str, Any]]] = {}  # dimension -> key -> {s_<column>: sum}
    stacked = []
    for cell in _picked_cells(project, f, tuple(sorted({TOTALS, group_by, stack})), stack, unit):
        into = sums.setdefault(cell["dimension"], {}).setdefault(cell["key"], {})
        for name in SUMMED:
            into[f"s_{name}"] = into.get(f"s_{name}", 0) + (cell[f"s_{name}"] or 0)
        if cell["dimension"] == stack:
            stacked.append({"period": cell["period"], "key": cell["key"], "cost": cell["s_cost_units"],
                            "unpriced": cell["s_unpriced_calls"]})
    rows = [_row(key, row) for key, row in sums.get(group_by, {}).items()]
    rows.sort(key=_costliest_first)
    return {"totals": _totals_row(sums.get(TOTALS, {}).get("", {})), "series": _series(stacked, since, until, unit),
            "rows": rows[:limit], "count": len(rows)}


def _picked_cells(project, f: SpendFilters, dimensions: tuple[str, ...], stack: str, unit: str) -> list[dict]:
    """The picked runs' buckets of these dimensions in the range, summed per (dimension, key), and per
    period of `unit` too for the `stack` dimension (PostgreSQL)."""
    columns = ", ".join(f"SUM(b.{name}) AS s_{name}" for name in SUMMED)
    period = "b.hour" if unit == "hour" else f"date_trunc('{unit}', b.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    sql, params = buckets(project, f, dimensions).values("dimension", "key", "hour", *SUMMED).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT b.dimension, b.key, CASE WHEN b.dimension = %s THEN {period} END AS period, {columns} "
                       f"FROM ({sql}) b GROUP BY 1, 2, 3", [stack, *params])
        return _fetch_sums(cursor)


def breakdown(project, f: SpendFilters, group_by: str) -> list[dict[str, Any]]:
    """One row per key (or per UTC day), costliest first; days in date order."""
    if group_by == "day":
        days: dict[str, dict[str, int]] = {}
        for r in _by_period(buckets(project, f, TOTALS), "day").values("period").annotate(**_sums()):
            day = days.setdefault(_floor(r["period"], "day").date().isoformat(), {})
            for name, value in r.items():
                if name != "period":
                    day[name] = day.get(name, 0) + (value or 0)
        return [_row(day, sums) for day, sums in sorted(days.items())]
    qs = buckets(project, f, group_by).values("key").annotate(**_sums())
    rows = [_row(r["key"], r) for r in qs]
    rows.sort(key=_costliest_first)
    return rows


def top_of_breakdown(project, f: SpendFilters, group_by: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """(the first `limit` rows of breakdown(), how many it has), ordered and cut in SQL: a breakdown by
    session or user has a key per run or two (12,500 sessions: building every row took ~130 ms more).
    By day: every day, in date order (the chart draws them all)."""
    if group_by == "day":
        rows = breakdown(project, f, group_by)
        return rows, len(rows)
    # Ordered outside the grouping query: ordering the ORM's query by a collated key would group by it too
    # (a plan twice as slow). The key in code point order on both databases, as Python sorts keys.
    sql, params = buckets(project, f, group_by).values("key").annotate(**_sums()).query.sql_with_params()
    collate = 'COLLATE "C"' if connection.vendor == "postgresql" else "COLLATE BINARY"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT g.*, COUNT(*) OVER () AS n_keys FROM ({sql}) g ORDER BY COALESCE(g.s_cost_units, 0) "
                       f"DESC, COALESCE(g.s_unpriced_calls, 0) DESC, g.key {collate} LIMIT %s", [*params, limit])
        picked = _fetch_sums(cursor)
    return [_row(r["key"], r) for r in picked], (picked[0]["n_keys"] if picked else 0)


def _fetch_sums(cursor) -> list[dict[str, Any]]:
    """Rows as dicts, sums as int (PostgreSQL's SUM of bigint is numeric; the ORM converts it too)."""
    names = [c[0] for c in cursor.description]
    return [{n: int(v) if n.startswith("s_") and v is not None else v for n, v in zip(names, r)}
            for r in cursor.fetchall()]


def totals(project, f: SpendFilters) -> dict[str, Any]:
    return _totals_row(buckets(project, f, TOTALS).aggregate(**_sums()))


def _totals_row(sums: dict[str, Any]) -> dict[str, Any]:
    row = _row("", sums)
    row["empty"] = not any(sums.values())
    out, rsn = row["output_cost_usd"], row["reasoning_cost_usd"]
    row["reasoning_share"] = (rsn / out) if out else None  # of output spend, over calls with a breakdown
    return row


def over_time(project, f: SpendFilters, stack: str, now: datetime) -> dict[str, Any]:
    """{unit, periods, keys, cost: {key: [Decimal per period]}, unpriced: [calls per period]}."""
    since, until, unit = _range(project, f, now)
    cells = list(_by_period(buckets(project, f, stack), unit).values("period", "key")
                 .annotate(cost=Sum("cost_units"), unpriced=Sum("unpriced_calls")))
    return _series(cells, since, until, unit)


def _range(project, f: SpendFilters, now: datetime) -> tuple[datetime, datetime, str]:
    """(since, until, unit of the over-time bars)."""
    since = f.since or _first_hour(project, f) or floor_hour(now)
    until = f.until or ceil_hour(now)
    return since, until, next(u for u, span in UNITS if until - since <= span)


def _series(cells: list[dict[str, Any]], since: datetime, until: datetime, unit: str) -> dict[str, Any]:
    """The over-time series from cells {period, key, cost, unpriced} (a period may be finer than `unit`)."""
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


_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def _by_period(qs: QuerySet, unit: str) -> QuerySet:
    """Spend cells annotated with `period`: on PostgreSQL the UTC day, week or month (date_trunc), so
    SQL sums per period (90 days by day: ~300 rows, not ~6,000 hourly ones to fetch); elsewhere the
    hour (SQLite's trunc is a Python function called per row), which callers bring to the period
    with _floor while adding up."""
    if unit != "hour" and connection.vendor == "postgresql":
        return qs.annotate(period=_TRUNC[unit]("hour", tzinfo=dt_timezone.utc))
    return qs.annotate(period=F("hour"))


def _first_hour(project, f: SpendFilters) -> datetime | None:
    first = buckets(project, f, TOTALS).order_by("hour").values_list("hour", flat=True).first()
    return first


def _floor(t: datetime, unit: str) -> datetime:
    t = floor_hour(t)
    if unit == "hour":
        return t
    t = t.replace(hour=0)
    if unit == "week":  # ISO weeks start on Monday, as the databases truncate them
        return t - timedelta(days=t.weekday())
    return t.replace(day=1) if unit == "month" else t


def _next(t: datetime, unit: str) -> datetime:
    if unit == "month":
        return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
    return t + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[unit]


def _periods(since: datetime, until: datetime, unit: str) -> list[datetime]:
    t, out = _floor(since, unit), []
    while t < until and len(out) < 5000:
        out.append(t)
        t = _next(t, unit)
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
    qs = runs(project, f)
    unpriced, ok = Q(unpriced_calls__gt=0), Q(status=Run.OK)
    agg = qs.aggregate(
        runs=Count("id"), priced_runs=Count("cost_units"), max=Max("cost_units"),
        unknown_cost_runs=Count("id", filter=unpriced & Q(cost_units__isnull=True)),
        partly_unpriced_runs=Count("id", filter=unpriced & Q(cost_units__isnull=False)),
        successful_runs=Count("id", filter=ok), ok_priced=Count("cost_units", filter=ok),
        ok_cost=Sum("cost_units", filter=ok), successful_partly_unpriced=Count("id", filter=ok & unpriced),
    )
    n, top = agg["priced_runs"], agg.pop("max")
    ranks = {"median": n // 2, "p90": min(n - 1, int(n * 0.9))}
    nth = _nth_costs(qs, set(ranks.values())) if n else {}
    for name, rank in ranks.items():
        agg[name] = from_units(nth[rank]) if n else None
    agg["max"] = from_units(top) if n else None
    ok_priced, ok_cost = agg.pop("ok_priced"), agg.pop("ok_cost")
    agg["cost_per_successful_run"] = (from_units(ok_cost) / ok_priced).quantize(MONEY_UNIT) if ok_priced else None
    agg["bins"] = _bins(qs, top) if n else []
    return agg


def _nth_costs(qs: QuerySet, ranks: set[int]) -> dict[int, int]:
    """{rank: the cost of the priced run at that rank, 0 the cheapest}: one query for all the ranks
    (each as its own OFFSET picked the runs again: 30 ms each, filtered, over 11,000 runs)."""
    ranked = qs.exclude(cost_units__isnull=True).annotate(rank=Window(RowNumber(), order_by=F("cost_units").asc()))
    return {rank - 1: units for rank, units in ranked.filter(rank__in=[r + 1 for r in ranks]).values_list(
        "rank", "cost_units")}


def _bins(qs: QuerySet, top_units: int) -> list[dict[str, Any]]:
    """Bins of a round width (1, 2 or 5 × 10^k) from 0 past the largest run cost: [{low, high, runs}]."""
    width = _round_width(max(from_units(top_units), Decimal("1e-6")) / BINS)
    width_units = to_units(width)
    counts = [0] * (max(top_units, 0) // width_units + 1)
    # Integer division in SQL (both columns are integers): the bin of each run, counted in the database.
    for b, n in (qs.exclude(cost_units__isnull=True).annotate(b=F("cost_units") / width_units)
                 .values("b").annotate(n=Count("id")).values_list("b", "n")):
        counts[min(max(int(b), 0), len(counts) - 1)] += n
    return [{"low": width * i, "high": width * (i + 1), "runs": n} for i, n in enumerate(counts)]


def _round_width(raw: Decimal) -> Decimal:
    exponent = raw.adjusted()
    for mantissa in (1, 2, 5, 10):
        width = Decimal(mantissa).scaleb(exponent)
        if width >= raw:
            return width
    return Decimal(10).scaleb(exponent)


def top_runs(project, f: SpendFilters, n: int = 10) -> list[Run]:
    order = ("-cost_units", "-started_at")
    # The inner query orders on the covering index alone; only the n rows it picks are read.
    ids = runs(project, f).exclude(cost_units__isnull=True).order_by(*order).values("id")[:n]
    picked = list(SpendRun.objects.filter(id__in=ids).order_by(*order).values_list("trace_id", flat=True))
    found = {r.trace_id: r for r in Run.objects.filter(project=project, trace_id__in=picked)}
    return [found[t] for t in picked if t in found]


def top_steps(project, f: SpendFilters, n: int = 10) -> list[dict[str, Any]]:
    """The costliest step of each run, costliest first."""
    order = ("-top_step_units", "-started_at")
    ids = runs(project, f).filter(top_step_units__isnull=False).order_by(*order).values("id")[:n]
    tops = list(SpendRun.objects.filter(id__in=ids).order_by(*order).values_list("trace_id", "top_span_id"))
    found = {(s["trace_id"], s["span_id"]): s for s in keyed(project.id, by_trace(tops)).values(
        "trace_id", "span_id", "name", "kind", "model", "provider", "tool_name", "cost_usd", "cost_source",
        "cost_note", "input_tokens", "output_tokens", "start_ns")}
    return [found[k] for k in tops if k in found]


def filter_values(project, f: SpendFilters, dimensions: tuple[str, ...], now: datetime,
                  limit: int = 100) -> dict[str, list[str]]:
    """Keys seen in the last week of the range per dimension, offered as filter suggestions."""
    end = f.until or ceil_hour(now)
    qs = SpendHour.objects.filter(project=project, dimension__in=dimensions, hour__gte=end - timedelta(days=7),
                                  hour__lt=end).exclude(key="")
    out: dict[str, list[str]] = {d: [] for d in dimensions}
    for dim, key in sorted(set(qs.values_list("dimension", "key").distinct()[:limit * 20])):
        if len(out[dim]) < limit:
            out[dim].append(key)
    return out
