"""Spend attribution: what each run's steps cost, attributed per hour to model, provider, agent,
tool, user, session and tag; and its upkeep at index time in the SpendBucket (per run) and
SpendHour (per hour) tables the spend page reads (see tracing.spend_models).

What counts, as for Run totals: the cost of every non-agent step that has one (agent spans
repeat their children's totals), tokens of LLM and embedding calls, and LLM/embedding calls
without a price counted as *unpriced* with their tokens — never as $0. A duplicate LLM span
(tracing.dedupe: a provider SDK's own span repeating the instrumentation's) counts for nothing.

Tool attribution: an LLM call that requested tool calls has its cost and tokens split equally
among those requests (integers in the stored precision; the remainder goes to the first request,
so the parts sum exactly to the whole). A tool span that reports a cost of its own adds it to its
tool. An LLM or embedding call that requested no tool is attributed to "answer / no tool".
Counts are not split: a call that requested two tools counts as one call for each.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone as dt_timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tracing import pricing
from tracing.spend_models import MONEY_UNIT, TOTALS, SpendBucket, SpendRun
from tracing.steps import COST_COMPUTED

ANSWER = "answer / no tool"
UNNAMED_TOOL = "(unnamed tool)"
TOKEN_KINDS = ("llm", "embedding")  # as in tracing.indexer: the kinds whose tokens are summed
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
# Amounts split among the tools an LLM call requested; counts are not.
SPLIT = ("cost_units", *TOKENS, "unpriced_tokens", "cache_savings_units", "output_cost_units", "reasoning_cost_units")
COUNTS = ("llm_calls", "unpriced_calls", "tool_calls")
STEP_VALUES = (
    "span_id", "parent_span_id", "kind", "name", "start_ns", "model", "provider", *TOKENS, "cost_usd",
    "cost_source", "cost_breakdown", "tool_calls", "tool_name", "agent_name", "duplicate_of",
)
_HOUR_NS = 3600 * 10**9


def to_units(amount: Decimal | str | None) -> int:
    """USD → integer units of 10^-10 USD (the stored precision), rounding half to even."""
    if amount in (None, ""):
        return 0
    return int((Decimal(amount) / MONEY_UNIT).to_integral_value(ROUND_HALF_EVEN))


def from_units(units: int | None) -> Decimal:
    return (Decimal(units or 0) * MONEY_UNIT).quantize(MONEY_UNIT)


def split_equally(value: int, n: int) -> list[int]:
    """n integer parts summing exactly to value; the remainder goes to the first."""
    q, r = divmod(value, n)
    return [q + r] + [q] * (n - 1)


def split_cost(amount: Decimal, n: int) -> list[Decimal]:
    """A cost split among n tools, in the stored precision, summing exactly to the (stored) amount."""
    return [from_units(u) for u in split_equally(to_units(amount), n)]


def hour_of(ns: int) -> datetime:
    return datetime.fromtimestamp((ns // _HOUR_NS) * 3600, tz=dt_timezone.utc)


def step_amounts(step: dict[str, Any]) -> dict[str, int]:
    """One step's own contribution: money in units, tokens, counts."""
    kind = step["kind"]
    out = dict.fromkeys((*SPLIT, *COUNTS), 0)
    if kind == "agent":
        return out  # repeats its children's totals
    cost = step.get("cost_usd")
    out["cost_units"] = to_units(cost)
    out["tool_calls"] = int(kind == "tool")
    if kind not in TOKEN_KINDS:
        return out
    for f in TOKENS:
        out[f] = step.get(f) or 0
    out["llm_calls"] = int(kind == "llm")
    if cost is None:
        out["unpriced_calls"] = 1
        out["unpriced_tokens"] = out["input_tokens"] + out["output_tokens"]
        return out
    if step.get("cache_read_tokens") or step.get("cache_write_tokens"):
        saved = pricing.cache_savings(
            provider=step.get("provider") or "", model=step.get("model") or "",
            input_tokens=step.get("input_tokens"), cache_read_tokens=step.get("cache_read_tokens"),
            cache_write_tokens=step.get("cache_write_tokens"),
            at=datetime.fromtimestamp(step["start_ns"] / 1e9, tz=dt_timezone.utc),  # priced as of the call
        )
        out["cache_savings_units"] = to_units(saved)
    breakdown = step.get("cost_breakdown") or {}
    if step.get("cost_source") == COST_COMPUTED and "output" in breakdown:
        reasoning = to_units(breakdown.get("reasoning"))
        out["output_cost_units"] = to_units(breakdown["output"]) + reasoning
        out["reasoning_cost_units"] = reasoning
    return out


def tool_shares(step: dict[str, Any], amounts: dict[str, int]) -> list[tuple[str, dict[str, int]]]:
    """[(tool key, amounts)] for the tool dimension; see the module docstring."""
    kind = step["kind"]
    if kind in ("tool", "retrieval"):
        return [((step.get("tool_name") or step.get("name") or UNNAMED_TOOL)[:200], amounts)]
    calls = [c for c in step.get("tool_calls") or [] if isinstance(c, dict)] if kind == "llm" else []
    if not calls:
        has_any = kind in TOKEN_KINDS or amounts["cost_units"]
        return [(ANSWER, amounts)] if has_any else []
    names = [str(c.get("name") or UNNAMED_TOOL)[:200] for c in calls]
    parts = {f: split_equally(amounts[f], len(names)) for f in SPLIT}
    shares: dict[str, dict[str, int]] = {}
    for i, name in enumerate(names):
        share = shares.setdefault(name, {**dict.fromkeys(SPLIT, 0), **{f: amounts[f] for f in COUNTS}})
        for f in SPLIT:
            share[f] += parts[f][i]
    return list(shares.items())


def _agents(steps: list[dict[str, Any]], run_agent: str) -> dict[str, str]:
    """span_id → the nearest agent name on the step or its ancestors, else the run's agent."""
    by_id = {s["span_id"]: s for s in steps}
    found: dict[str, str] = {}
    for s in steps:
        chain, seen, cur, name = [], set(), s, ""
        while cur is not None and cur["span_id"] not in seen:  # `seen`: hostile parent cycles
            if cur["span_id"] in found:
                name = found[cur["span_id"]]
                break
            chain.append(cur["span_id"])
            seen.add(cur["span_id"])
            if cur.get("agent_name"):
                name = cur["agent_name"]
                break
            cur = by_id.get(cur.get("parent_span_id") or "")
        for span_id in chain:
            found[span_id] = name or run_agent
    return found


def trace_buckets(run: dict[str, Any], steps: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """{(hour, dimension, key): amounts} for one run. `run` carries agent, user_id, session_id, tags."""
    agents = _agents(steps, run.get("agent") or "")
    tags = list(dict.fromkeys(str(t)[:200] for t in run.get("tags") or [])) or [""]  # a repeated tag counts once
    out: dict[tuple, dict[str, Any]] = defaultdict(lambda: dict.fromkeys((*SPLIT, *COUNTS, "runs"), 0))

    def add(hour, dim, key, amounts):
        row = out[(hour, dim, key)]
        for f, v in amounts.items():
            row[f] += v

    for s in steps:
        if s.get("duplicate_of"):
            continue  # the step it repeats already counts
        hour = hour_of(s["start_ns"])
        amounts = step_amounts(s)
        for dim, key in ((TOTALS, ""), ("agent", agents[s["span_id"]]), ("user", run.get("user_id") or ""),
                         ("session", run.get("session_id") or "")):
            add(hour, dim, key[:200], amounts)
        for tag in tags:
            add(hour, "tag", tag, amounts)
        if s["kind"] in TOKEN_KINDS or _costed(s):
            add(hour, "model", (s.get("model") or "")[:200], amounts)
            add(hour, "provider", (s.get("provider") or "")[:100], amounts)
        for tool, share in tool_shares(s, amounts):
            add(hour, "tool", tool, share)

    first: dict[tuple[str, str], datetime] = {}
    for hour, dim, key in out:
        if (dim, key) not in first or hour < first[(dim, key)]:
            first[(dim, key)] = hour
    for (dim, key), hour in first.items():
        out[(hour, dim, key)]["runs"] = 1
    return dict(out)


def _costed(step: dict[str, Any]) -> bool:
    return step["kind"] != "agent" and step.get("cost_usd") is not None and not step.get("duplicate_of")


def costliest_step(steps: list[dict[str, Any]]) -> tuple[str, int] | None:
    """(span_id, cost units) of the run's most expensive step (the earliest on a tie), or None."""
    costed = [s for s in steps if _costed(s)]
    if not costed:
        return None
    top = max(costed, key=lambda s: (to_units(s["cost_usd"]), -s["start_ns"]))
    return top["span_id"], to_units(top["cost_usd"])


def recompute_buckets(project_id: int, trace_ids: Iterable[str]) -> None:
    """Rebuild the SpendBucket and SpendRun rows of these runs from their Steps (delete + insert: a
    replay gives the same rows), then the SpendHour cells they touched. Runs are recomputed first;
    the caller holds the traces' locks (tracing.indexer)."""
    from tracing.models import Run, Step

    trace_ids = list(trace_ids)
    runs = {r["trace_id"]: r for r in Run.objects.filter(project_id=project_id, trace_id__in=trace_ids).values(
        "trace_id", "agent", "user_id", "session_id", "tags", "started_at", "status", "cost_usd", "unpriced_calls")}
    steps: dict[str, list[dict]] = defaultdict(list)
    for s in (Step.objects.filter(project_id=project_id, trace_id__in=trace_ids)
              .order_by("trace_id", "start_ns", "span_id").values("trace_id", *STEP_VALUES)):
        steps[s["trace_id"]].append(s)
    rows, run_rows = [], []
    for trace_id, run in runs.items():
        for (hour, dim, key), amounts in trace_buckets(run, steps.get(trace_id, [])).items():
            rows.append(SpendBucket(project_id=project_id, trace_id=trace_id, hour=hour, dimension=dim, key=key,
                                    **amounts))
        top = costliest_step(steps.get(trace_id, []))
        run_rows.append(SpendRun(
            project_id=project_id, trace_id=trace_id, started_at=run["started_at"], status=run["status"],
            user_id=run["user_id"], session_id=run["session_id"], unpriced_calls=run["unpriced_calls"],
            cost_units=to_units(run["cost_usd"]) if run["cost_usd"] is not None else None,
            top_span_id=top[0] if top else "", top_step_units=top[1] if top else None))
    stored = SpendBucket.objects.filter(project_id=project_id, trace_id__in=trace_ids)
    touched = set(stored.values_list("hour", "dimension", "key").distinct())
    stored.delete()
    SpendBucket.objects.bulk_create(rows, batch_size=1000)
    SpendRun.objects.filter(project_id=project_id, trace_id__in=trace_ids).delete()
    SpendRun.objects.bulk_create(run_rows, batch_size=1000)
    recompute_hours(project_id, touched | {(r.hour, r.dimension, r.key) for r in rows})


def recompute_hours(project_id: int, cells: set[tuple[datetime, str, str]]) -> None:
    """SpendHour cells summed again from their SpendBuckets (never incremented), under per-hour
    locks so that concurrent workers touching the same hour each see the other's committed rows."""
    from django.db.models import Q, Sum

    from tracing.spend_models import SUMMED, SpendHour

    _lock_hours(project_id, sorted({hour for hour, _, _ in cells}))
    groups: dict[tuple[datetime, str], set[str]] = defaultdict(set)
    for hour, dim, key in cells:
        groups[(hour, dim)].add(key)
    items = sorted(groups.items())
    for i in range(0, len(items), 200):  # bounded OR chains (SQLite caps expression depth at 1,000)
        where = Q()
        for (hour, dim), keys in items[i:i + 200]:
            where |= Q(hour=hour, dimension=dim, key__in=sorted(keys))
        sums = (SpendBucket.objects.filter(where, project_id=project_id).values("hour", "dimension", "key")
                .annotate(**{f"s_{f}": Sum(f) for f in SUMMED}))
        cells_now = [SpendHour(project_id=project_id, hour=r["hour"], dimension=r["dimension"], key=r["key"],
                               **{f: r[f"s_{f}"] or 0 for f in SUMMED}) for r in sums]
        SpendHour.objects.filter(where, project_id=project_id).delete()
        SpendHour.objects.bulk_create(cells_now, batch_size=1000)


def _lock_hours(project_id: int, hours: list[datetime]) -> None:
    from django.db import connection

    if connection.vendor != "postgresql" or not hours:
        return  # SQLite has a single writer: the transaction already serializes
    # One bigint per (project, hour): the one-key form never collides with the indexer's two-key trace locks.
    keys = [project_id * 2**32 + int(h.timestamp()) // 3600 for h in hours]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", [keys])
