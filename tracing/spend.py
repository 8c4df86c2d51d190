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
from operator import add, itemgetter
from typing import Any

import orjson
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q, Sum

from tracing import bulk, pricing
from tracing.spend_models import MONEY_UNIT, SUMMED, TOTALS, SpendBucket, SpendHour, SpendRun
from tracing.step_keys import keyed, of_runs
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
    "cost_source", "cost_breakdown", "tool_calls", "tool_name", "agent_name", "duplicate_of", "cache_savings_usd",
)
_HOUR_NS = 3600 * 10**9


# The most a stored amount holds (a bigint). Sums reach it only from hostile spans: a call's cost is
# bounded (pricing.MAX_CALL_COST, 10^14 units), but ~92,000 calls at the bound in one run or one hour
# of a key are not. Stored sums stop there rather than fail every batch that adds to them.
MAX_UNITS = 2**63 - 1


def bounded(values: list[int]) -> list[int]:
    """Amounts as a row can hold them: at most MAX_UNITS (and, for a difference, at least -MAX_UNITS)."""
    return [MAX_UNITS if v > MAX_UNITS else -MAX_UNITS if v < -MAX_UNITS else v for v in values]


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
        saved = step.get("cache_savings_usd")  # priced by the indexer
        if saved is None:  # indexed before it was stored, or unpriced: priced here, as of the call
            saved = pricing.cache_savings(
                provider=step.get("provider") or "", model=step.get("model") or "",
                input_tokens=step.get("input_tokens"), cache_read_tokens=step.get("cache_read_tokens"),
                cache_write_tokens=step.get("cache_write_tokens"),
                at=datetime.fromtimestamp(step["start_ns"] / 1e9, tz=dt_timezone.utc),
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


def trace_buckets(run: dict[str, Any], steps: list[dict[str, Any]],
                  agents: dict[str, str] | None = None) -> dict[tuple, dict[str, Any]]:
    """{(hour, dimension, key): amounts} for one run. `run` carries agent, user_id, session_id, tags.
    `agents`: each step's agent, if the caller worked it out from the whole run (see add_new_steps)."""
    agents = agents or _agents(steps, run.get("agent") or "")
    # Amounts as lists in _ROW order, summed with map(); the keys the run has as a whole (totals, its user,
    # session, tags) all get the run's amounts of the hour, which are summed once.
    cells: dict[tuple, list[int]] = {}
    whole: dict[datetime, list[int]] = {}
    for s in steps:
        if s.get("duplicate_of"):
            continue  # the step it repeats already counts
        hour = hour_of(s["start_ns"])
        amounts = step_amounts(s)
        values = [amounts[f] for f in _ROW]
        _sum(whole, hour, values)
        _sum(cells, (hour, "agent", agents[s["span_id"]][:200]), values)
        if s["kind"] in TOKEN_KINDS or _costed(s):
            _sum(cells, (hour, "model", (s.get("model") or "")[:200]), values)
            _sum(cells, (hour, "provider", (s.get("provider") or "")[:100]), values)
        for tool, share in tool_shares(s, amounts):
            _sum(cells, (hour, "tool", tool), [share[f] for f in _ROW])
    for hour, values in whole.items():
        for dim, key in whole_run_keys(run):
            cells[(hour, dim, key)] = values
    out = {cell: {**dict(zip(_ROW, bounded(values))), "runs": 0} for cell, values in cells.items()}

    first: dict[tuple[str, str], datetime] = {}
    for hour, dim, key in out:
        if (dim, key) not in first or hour < first[(dim, key)]:
            first[(dim, key)] = hour
    for (dim, key), hour in first.items():
        out[(hour, dim, key)]["runs"] = 1
    return out


_ROW = (*SPLIT, *COUNTS)


def whole_run_keys(run: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dimension, key) pairs that get all of a run's amounts: totals first, then its user,
    session and tags (a run without tags under the tag ""; a repeated tag counts once)."""
    tags = list(dict.fromkeys(str(t)[:200] for t in run.get("tags") or [])) or [""]
    return [(TOTALS, ""), ("user", (run.get("user_id") or "")[:200]), ("session", (run.get("session_id") or "")[:200]),
            *(("tag", tag) for tag in tags)]


def _sum(cells: dict, cell: Any, values: list[int]) -> None:
    """Add `values` to the cell's (new lists: a list may be held by several cells)."""
    row = cells.get(cell)
    cells[cell] = values if row is None else list(map(add, row, values))


def _costed(step: dict[str, Any]) -> bool:
    return step["kind"] != "agent" and step.get("cost_usd") is not None and not step.get("duplicate_of")


def costliest_step(steps: list[dict[str, Any]]) -> tuple[str, int] | None:
    """(span_id, cost units) of the run's most expensive step (the earliest on a tie), or None."""
    costed = [s for s in steps if _costed(s)]
    if not costed:
        return None
    top = max(costed, key=lambda s: (to_units(s["cost_usd"]), -s["start_ns"]))
    return top["span_id"], to_units(top["cost_usd"])


def read_steps(project_id: int, trace_ids: list[str], where: Q | None = None) -> dict[str, list[dict[str, Any]]]:
    """{trace_id: its steps as STEP_VALUES dicts, by start}: what the attribution reads."""
    steps: dict[str, list[dict]] = defaultdict(list)
    for s in (of_runs(project_id, trace_ids, where=where)
              .order_by("trace_id", "start_ns", "span_id").values("trace_id", *STEP_VALUES)):
        steps[s["trace_id"]].append(s)
    return steps


HELD_MAX = 10_000  # span ids steps_of leaves out of a read; PostgreSQL takes at most 65,535 parameters


def steps_of(project_id: int, trace_ids: list[str], known: dict[str, list[dict[str, Any]]],
             counts: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """read_steps(), but the steps `known` holds (some or all of a run's, as read_steps gives them:
    those the caller just inserted) are not read again. `counts`: how many steps each of those runs
    has; one whose steps read and known do not make up that many (another run shares a span id) is
    read whole."""
    whole = {t: known[t] for t in trace_ids if t in known and len(known[t]) == counts.get(t)}
    part = [t for t in trace_ids if t in known and t not in whole]
    unknown = [t for t in trace_ids if t not in known]
    held = sorted({s["span_id"] for t in part for s in known[t]})
    if len(held) > HELD_MAX:  # a group far larger than the default: one bound parameter a span id
        unknown, part = unknown + part, []
    if part:
        older = read_steps(project_id, part, where=~Q(span_id__in=held))
        for t in part:
            if len(older[t]) + len(known[t]) == counts.get(t):
                whole[t] = sorted([*older[t], *known[t]], key=itemgetter("start_ns", "span_id"))
            else:
                unknown.append(t)
    steps = read_steps(project_id, unknown)
    steps.update(whole)
    return steps


def add_new_steps(project_id: int, added: dict[str, list[dict[str, Any]]],
                  moved: dict[str, tuple] | None = None) -> tuple[set[str], dict[tuple, list[int]], dict[tuple, list[int]]]:
    """Bring the spend rows of runs that only gained steps up to date from those steps alone: the
    buckets of the new steps are added to the run's (SpendBucket, then SpendHour), its costliest
    step compared with theirs. A run streaming in for minutes is indexed batch after batch; redoing
    it from all its steps each time made indexing quadratic in its length (bench/long_run.py).

    `added`: {trace_id: the steps this transaction inserted, with STEP_VALUES, by start
    (tracing.run_growth.read)}, for runs whose Run row existed, with no step replaced and no
    duplicate mark changed (tracing.indexer checks that). `moved`: {trace_id: its (agent, user,
    session, tags) before} for those of them whose root arrived with these steps and changed their
    context; the others kept theirs. What is added is then what recompute_buckets would change,
    unless a stored step hangs under a new one that is not a root carrying no agent or the run's
    (its agent may change), or a new step is in an earlier hour than the run's rows of the same key
    (the run's count moves): those runs are left out. A moved run's rows are rewritten instead
    (rekeyed): its whole-run keys follow its new context, and the steps that fell back to its agent
    (none carried one: its agent was "") take the root's; were its agent from one of its steps,
    those could not be told apart from the steps carrying it, and it is left out.

    Returns the runs done, what their SpendHour cells hold now, and what they held before (the
    moved runs' cells, which they may leave; the others' only gain), which the caller hands to
    recompute_buckets for the other runs: one SpendHour statement per transaction, so concurrent
    workers lock the cells in one order (apply_to_hours).

    What is read of the rest of the run into Python does not grow with its steps: its spend rows,
    and the ancestors of the new steps up to the nearest carrying an agent. PostgreSQL still scans
    the run's steps for those whose parent is a new step (no index leads with parent_span_id)."""
    moved = moved or {}
    new = {t: {s["span_id"] for s in steps} for t, steps in added.items()}
    trace_ids = sorted(new)
    runs = _runs(project_id, trace_ids)
    # New steps that stored ones may hang under: a parentless one without an agent of its own, or with
    # the run's (now): a chain up to it then ends on the run's agent, as a chain up to a missing span did
    # (which rekeyed() moves to the root's agent in a moved run).
    tops_of_chains = {t: {s["span_id"] for s in steps if not s["parent_span_id"]
                          and s["agent_name"] in ("", runs[t]["agent"])} for t, steps in added.items()}
    hanging = {t for t, span_id, parent in of_runs(project_id, trace_ids, where=Q(
        parent_span_id__in={s for spans in new.values() for s in spans})
    ).values_list("trace_id", "span_id", "parent_span_id") if parent in new[t] - tops_of_chains[t]
        and span_id not in new[t]}
    trace_ids = [t for t in trace_ids if t not in hanging]
    first: dict[str, dict[tuple[str, str], datetime]] = defaultdict(dict)  # the run's first hour of each key
    stored: dict[str, dict[tuple, list[int]]] = defaultdict(dict)  # a moved run's rows
    moving = [t for t in trace_ids if t in moved]
    for t, hour, dim, key, *amounts in (of_runs(project_id, moving, SpendBucket).values_list(
            "trace_id", "hour", "dimension", "key", *SUMMED) if moving else ()):
        stored[t][(hour, dim, key)] = amounts
    for t, hour, dim, key in (of_runs(project_id, [t for t in trace_ids if t not in moved], SpendBucket)
                              .values_list("trace_id", "hour", "dimension", "key")):
        if (dim, key) not in first[t] or hour < first[t][(dim, key)]:
            first[t][(dim, key)] = hour
    tops = {t: (span_id, units) for t, span_id, units in of_runs(project_id, trace_ids, SpendRun).filter(
        top_step_units__isnull=False).values_list(
        "trace_id", "top_span_id", "top_step_units")}
    tree = lineage(project_id, {t: added.get(t, []) for t in trace_ids},
                   {t: {tops[t][0]} for t in trace_ids if t in tops})
    done, cells, run_rows, rewritten, gained, left = set(), [], [], [], {}, {}
    for t in trace_ids:
        run, steps = runs[t], added.get(t, [])
        if not (stored[t] if t in moved else first[t]):
            continue  # a run without spend rows (all its steps duplicates, or rows lost): rebuilt
        delta = trace_buckets(run, steps, _agents(list(tree[t].values()), run["agent"] or ""))
        if t in moved:
            rows = rekeyed(stored[t], delta, moved[t][0], run)
            if rows is None:
                continue  # its agent came from a step
            rewritten.append((t, rows))
            for cell, amounts in stored[t].items():
                _add(left, cell, amounts)
            for cell, amounts in rows.items():
                _add(gained, cell, amounts)
        elif any(first[t].get((dim, key), hour) > hour for hour, dim, key in delta):
            continue  # a key's first hour moves earlier
        else:
            for cell, amounts in delta.items():
                hour, dim, key = cell
                if (dim, key) in first[t]:
                    amounts["runs"] = 0  # the run counts on its first hour of this key already
                cells.append(((t, *cell), [amounts[f] for f in SUMMED]))
        done.add(t)
        # Its costliest step: the stored one or a new one, the earliest on a tie (as costliest_step).
        starts = {span_id: s["start_ns"] for span_id, s in tree[t].items()}
        candidates = [top for top in (tops.get(t), costliest_step(steps)) if top]
        top = min(candidates, key=lambda c: (-c[1], starts[c[0]], c[0]), default=None)
        run_rows.append(_spend_run(project_id, t, run, top))
    if done:
        if cells:
            _upsert_cells(project_id, cells, "+", model=SpendBucket)
        if rewritten:
            of_runs(project_id, [t for t, _ in rewritten], SpendBucket).delete()
            bulk.insert_values(SpendBucket, [
                {"project_id": project_id, "trace_id": t, "hour": hour, "dimension": dim, "key": key,
                 **dict(zip(SUMMED, bounded(amounts)))} for t, rows in rewritten for (hour, dim, key), amounts in rows.items()])
        of_runs(project_id, done, SpendRun).delete()
        bulk.insert(SpendRun, run_rows)
        for (t, *cell), amounts in cells:
            _add(gained, tuple(cell), amounts)
    return done, gained, left


_RUNS = SUMMED.index("runs")


def rekeyed(stored: dict[tuple, list[int]], delta: dict[tuple, dict[str, Any]], agent_before: str,
            run: dict[str, Any]) -> dict[tuple, list[int]] | None:
    """A run's spend rows ({(hour, dimension, key): amounts in SUMMED order}) once its root has
    arrived and changed its context: `stored`, its rows before, with `delta`, the new steps'
    buckets (trace_buckets with the new context), as trace_buckets would give them for all its
    steps. None when that cannot be told from the rows (see add_new_steps)."""
    agent = run["agent"] or ""
    if agent != agent_before and agent_before:
        return None
    out: dict[tuple, list[int]] = {}
    whole = {dim for dim, _ in whole_run_keys(run)} - {TOTALS}
    for cells in (stored, {cell: [amounts[f] for f in SUMMED] for cell, amounts in delta.items()}):
        for (hour, dim, key), amounts in cells.items():
            if dim in whole:
                continue  # the run's user, session and tags: its totals, under its keys now
            if dim == "agent" and key == "" and cells is stored:
                key = agent[:200]  # the steps that fell back to the run's agent (it had none)
            _add(out, (hour, dim, key), amounts)
    for (hour, dim, _), amounts in list(out.items()):
        if dim == TOTALS:
            for other, key in whole_run_keys(run)[1:]:
                out[(hour, other, key)] = amounts
    first: dict[tuple[str, str], datetime] = {}
    for hour, dim, key in out:
        if (dim, key) not in first or hour < first[(dim, key)]:
            first[(dim, key)] = hour
    return {(hour, dim, key): [*amounts[:_RUNS], int(first[(dim, key)] == hour), *amounts[_RUNS + 1:]]
            for (hour, dim, key), amounts in out.items()}


LINEAGE_LEVELS = 8  # levels lineage walks up one query at a time; a deeper run's tree is read whole


def lineage(project_id: int, steps: dict[str, list[dict[str, Any]]], also: dict[str, set[str]]
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """{trace_id: {span_id: step}}: these steps, their ancestors up to the nearest one carrying an
    agent (what _agents reads for them), and the `also` steps; each with span_id, parent_span_id,
    agent_name and start_ns. One query per level of the tree walked up, LINEAGE_LEVELS at most:
    a run nested deeper (a chain of spans without an agent) has all its steps read instead."""
    fields = ("trace_id", "span_id", "parent_span_id", "agent_name", "start_ns")
    known = {t: {s["span_id"]: s for s in rows} for t, rows in steps.items()}
    want = {t: set(also.get(t, ())) | {s["parent_span_id"] for s in rows if not s["agent_name"]}
            for t, rows in steps.items()}
    for level in range(LINEAGE_LEVELS + 1):
        want = {t: missing for t, spans in want.items() if (missing := {s for s in spans if s and s not in known[t]})}
        if not want:
            break
        rows = keyed(project_id, want) if level < LINEAGE_LEVELS else of_runs(project_id, want)
        found: dict[str, set[str]] = defaultdict(set)
        for t, span_id, parent, agent, start_ns in rows.values_list(*fields):
            known[t].setdefault(span_id, {"span_id": span_id, "parent_span_id": parent, "agent_name": agent,
                                          "start_ns": start_ns})
            if not agent:
                found[t].add(parent)
        want = found
    return known


def recompute_buckets(project_id: int, trace_ids: Iterable[str], gained: dict[tuple, list[int]] | None = None,
                      known: dict[str, list[dict[str, Any]]] | None = None, counts: dict[str, int] | None = None,
                      left: dict[tuple, list[int]] | None = None) -> None:
    """Rebuild the SpendBucket and SpendRun rows of these runs from their Steps (delete + insert: a
    replay gives the same rows), and apply what changed to the SpendHour cells. Runs are recomputed
    first; the caller holds the traces' locks (tracing.indexer), so no one else writes these rows.
    `gained`, `left`: what the runs add_new_steps did in this transaction hold now and held before,
    applied to SpendHour with these runs' changes in one statement.
    `known`, `counts`: the steps of these runs the caller holds in memory, and how many each run has
    (see steps_of)."""
    trace_ids = list(trace_ids)
    if not trace_ids:
        apply_to_hours(project_id, left or {}, gained or {})
        return
    runs = _runs(project_id, trace_ids)
    steps = steps_of(project_id, trace_ids, known or {}, counts or {})
    rows, run_rows, new = [], [], {}
    for trace_id, run in runs.items():
        for cell, amounts in trace_buckets(run, steps.get(trace_id, [])).items():
            hour, dim, key = cell
            rows.append({"project_id": project_id, "trace_id": trace_id, "hour": hour, "dimension": dim, "key": key,
                         **amounts})
            _add(new, cell, [amounts[f] for f in SUMMED])
        run_rows.append(_spend_run(project_id, trace_id, run, costliest_step(steps.get(trace_id, []))))
    old = _delete_spend_rows(project_id, trace_ids)
    bulk.insert_values(SpendBucket, rows)  # COPY on PostgreSQL: the rows were just deleted, under the trace locks
    bulk.insert(SpendRun, run_rows)
    for cell, amounts in (gained or {}).items():
        _add(new, cell, amounts)
    for cell, amounts in (left or {}).items():
        _add(old, cell, amounts)
    apply_to_hours(project_id, old, new)


def _runs(project_id: int, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the attribution reads of these runs' Run rows (recomputed first)."""
    from tracing.models import Run

    return {r["trace_id"]: r for r in of_runs(project_id, trace_ids, Run).values(
        "trace_id", "agent", "user_id", "session_id", "tags", "started_at", "status", "cost_usd", "unpriced_calls")}


def _spend_run(project_id: int, trace_id: str, run: dict[str, Any], top: tuple[str, int] | None) -> SpendRun:
    return SpendRun(
        project_id=project_id, trace_id=trace_id, started_at=run["started_at"], status=run["status"],
        user_id=run["user_id"], session_id=run["session_id"], unpriced_calls=run["unpriced_calls"],
        cost_units=min(to_units(run["cost_usd"]), MAX_UNITS) if run["cost_usd"] is not None else None,
        top_span_id=top[0] if top else "", top_step_units=top[1] if top else None)


def forget_runs(project_id: int, trace_ids: Iterable[str], hours_from: datetime | None = None) -> None:
    """Delete these runs' spend rows and take their buckets out of the SpendHour cells from
    `hours_from` on (retention: older cells are dropped whole). The caller holds the traces' locks."""
    old = _delete_spend_rows(project_id, list(trace_ids))
    apply_to_hours(project_id, {c: v for c, v in old.items() if hours_from is None or c[0] >= hours_from}, {})


def _add(cells: dict[tuple, list[int]], cell: tuple, amounts: list[int]) -> None:
    if cell in cells:
        cells[cell] = [a + b for a, b in zip(cells[cell], amounts)]
    else:
        cells[cell] = amounts


def _delete_spend_rows(project_id: int, trace_ids: list[str]) -> dict[tuple, list[int]]:
    """Delete the runs' SpendBucket and SpendRun rows; return what the buckets held, summed per
    (hour, dimension, key): the amounts SpendHour counts for these runs now."""
    stored = of_runs(project_id, trace_ids, SpendBucket)
    old = bucket_sums(stored)
    stored.delete()
    of_runs(project_id, trace_ids, SpendRun).delete()
    return old


def bucket_sums(buckets) -> dict[tuple, list[int]]:
    """What these SpendBucket rows (a queryset) add up to per (hour, dimension, key), SUMMED columns."""
    return {(r["hour"], r["dimension"], r["key"]): [int(r[f"s_{f}"] or 0) for f in SUMMED]
            for r in buckets.values("hour", "dimension", "key").annotate(**{f"s_{f}": Sum(f) for f in SUMMED})}


# The SpendHour columns with a CHECK (>= 0) constraint. PostgreSQL and SQLite check the row an
# upsert proposes before they find the conflicting row, so a negative change of these cannot be
# proposed: it is proposed as 0, then subtracted by a second upsert (see apply_to_hours).
NON_NEGATIVE = tuple(f.name for f in SpendHour._meta.fields
                     if f.name in SUMMED and isinstance(f, models.PositiveIntegerField))
_CHECKED = [SUMMED.index(f) for f in NON_NEGATIVE]


def apply_to_hours(project_id: int, old: dict[tuple, list[int]], new: dict[tuple, list[int]]) -> None:
    """Bring SpendHour from `old` to `new` ({(hour, dimension, key): amounts in SUMMED order}: what
    some runs' buckets held before and hold now) by adding the difference to each cell. Keeps
    every cell equal to the SUM of its SpendBuckets, and existing exactly while it has any.

    Concurrency (PostgreSQL): the first upsert touches every cell that changes, in (hour,
    dimension, key) order, and locks its row (or inserts it: a concurrent insert of the same cell
    waits on the unique index, then updates). Workers touching the same cells therefore queue on
    row locks in the same order and cannot deadlock; the later statements only touch rows the
    first one locked. No hour lock is needed: an addition does not depend on what the others
    committed, unlike the re-SUM it replaces. The one decision that reads other runs' rows,
    dropping a cell whose last bucket left, runs with the cell locked: a run adding a bucket to it
    concurrently either committed first (and is seen) or waits for the lock, then inserts the
    cell again. SQLite has a single writer: the transaction already serializes."""
    zero = [0] * len(SUMMED)
    changes, gone = [], []
    for cell in sorted(old.keys() | new.keys()):
        delta = [a - b for a, b in zip(new.get(cell, zero), old.get(cell, zero))]
        if any(delta) or (cell in old) != (cell in new):  # a cell these runs enter or leave: it may appear or go
            changes.append((cell, delta))
        if cell not in new:
            gone.append(cell)
    if not changes:
        return
    _upsert_cells(project_id, [(cell, [max(v, 0) if i in _CHECKED else v for i, v in enumerate(delta)])
                               for cell, delta in changes], "+")
    lowered = [(cell, [-min(v, 0) if i in _CHECKED else 0 for i, v in enumerate(delta)])
               for cell, delta in changes if any(delta[i] < 0 for i in _CHECKED)]
    if lowered:
        _upsert_cells(project_id, lowered, "-")  # rows the first upsert locked: it never inserts
    if gone:
        _drop_empty_cells(project_id, gone)


def _upsert_cells(project_id: int, cells: list[tuple[tuple, list[int]]], op: str, model=SpendHour) -> None:
    """One INSERT … ON CONFLICT DO UPDATE adding ("+") or subtracting ("-") the amounts, rows in the
    given order; cells are keyed (hour, dimension, key), or (trace_id, hour, dimension, key) for
    SpendBucket. The rows travel as one JSON parameter the database unpacks: as 18 bound parameters
    per cell, psycopg spent 21 ms of Python CPU quoting 170 cells (client-side binding), the JSON 1.4 ms."""
    fields = ("trace_id", "hour", "dimension", "key") if model is SpendBucket else ("hour", "dimension", "key")
    table, keys, summed = _names(model, fields)
    if op == "+":  # saturating at MAX_UNITS: PostgreSQL adds as numeric, SQLite turns an overflow into a float
        sets = ([f"{c} = LEAST({table}.{c}::numeric + EXCLUDED.{c}, {MAX_UNITS})::bigint" for c in summed]
                if connection.vendor == "postgresql" else
                [f"{c} = MIN({table}.{c} + EXCLUDED.{c}, {MAX_UNITS})" for c in summed])
    else:
        # Only the CHECKed columns are subtracted. Never below 0: if the invariant was already broken
        # (a cell dropped while a bucket stayed), a count off in that cell beats an IntegrityError
        # that would fail the batch at every retry.
        greatest = "MAX" if connection.vendor == "sqlite" else "GREATEST"
        sets = [f"{summed[i]} = {greatest}({table}.{summed[i]} - EXCLUDED.{summed[i]}, 0)" for i in _CHECKED]
    n = len(fields)
    if connection.vendor == "postgresql":
        values = ", ".join([*(f"(e->>{i})::timestamptz" if f == "hour" else f"e->>{i}" for i, f in enumerate(fields)),
                            *(f"(e->>{i})::bigint" for i in range(n, n + len(summed)))])
        rows = "jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n"
    else:  # SQLite's JSON1 (Django's JSONField needs it); WHERE true: its upsert-after-SELECT syntax rule
        values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(n + len(summed)))
        rows = "json_each(%s) WHERE true ORDER BY key"
    hour = fields.index("hour")
    adapt = connection.ops.adapt_datetimefield_value
    payload = orjson.dumps([[adapt(v) if i == hour else v for i, v in enumerate(cell)] + bounded(amounts)
                            for cell, amounts in cells]).decode()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({', '.join(keys + summed)}) SELECT %s, {values} FROM {rows} "
                       f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}", [project_id, payload])


def hold_hours() -> None:
    """Inside a transaction that re-sums SpendHour cells from the buckets: keep indexing from adjusting
    any cell until it commits (PostgreSQL; SQLite has a single writer). An indexer that already
    adjusted some is waited for, so its buckets are committed before the re-sum reads them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_names()[0]} IN SHARE ROW EXCLUSIVE MODE")


def _names(model=SpendHour, fields=("hour", "dimension", "key")) -> tuple[str, list[str], list[str]]:
    """The model's table, its project and `fields` columns and its SUMMED columns, quoted."""
    qn = connection.ops.quote_name
    return (qn(model._meta.db_table), [qn(model._meta.get_field(f).column) for f in ("project", *fields)],
            [qn(model._meta.get_field(f).column) for f in SUMMED])


def _drop_empty_cells(project_id: int, cells: list[tuple]) -> None:
    """Delete the cells, among these (left by some runs), that no SpendBucket holds any more. Such a
    cell sums to 0 in every column, so only those are looked up in SpendBucket."""
    buckets = SpendBucket.objects.filter(project_id=OuterRef("project_id"), hour=OuterRef("hour"),
                                         dimension=OuterRef("dimension"), key=OuterRef("key"))
    for i in range(0, len(cells), 200):  # bounded OR chains (SQLite caps expression depth at 1,000)
        where = Q()
        for hour, dim, key in cells[i:i + 200]:
            where |= Q(hour=hour, dimension=dim, key=key)
        (SpendHour.objects.filter(where, project_id=project_id, **dict.fromkeys(SUMMED, 0))
         .filter(~Exists(buckets)).delete())


def resum_hours(project_id: int, hours_per_transaction: int = 24) -> None:
    """Every SpendHour cell of the project summed again from its SpendBuckets (rebuild_spend: it
    repairs cells that do not match, which adding differences never would). A few hours per
    transaction, each under a table lock on PostgreSQL: indexing adds to SpendHour by difference,
    so it must not change the cells between this DELETE and INSERT; it waits at its upsert and
    adds its difference afterwards, to the re-summed cells, which do not include its uncommitted
    buckets. Readers are not blocked."""
    hours = sorted(set(SpendBucket.objects.filter(project_id=project_id).values_list("hour", flat=True).distinct())
                   | set(SpendHour.objects.filter(project_id=project_id).values_list("hour", flat=True).distinct()))
    table, keys, summed = _names()
    keys_sql = ", ".join(keys)
    for i in range(0, len(hours), hours_per_transaction):
        chunk = hours[i:i + hours_per_transaction]
        with transaction.atomic(), connection.cursor() as cursor:
            hold_hours()
            SpendHour.objects.filter(project_id=project_id, hour__in=chunk).delete()
            if connection.vendor == "sqlite":  # its SUM fails on a sum past MAX_UNITS: summed here instead
                _resum_in_python(project_id, chunk)
                continue
            cursor.execute(
                f"INSERT INTO {table} ({keys_sql}, {', '.join(summed)}) "
                f"SELECT {keys_sql}, {', '.join(f'LEAST(SUM({c}), {MAX_UNITS})' for c in summed)} "
                f"FROM {connection.ops.quote_name(SpendBucket._meta.db_table)} "
                f"WHERE project_id = %s AND hour IN ({', '.join(['%s'] * len(chunk))}) GROUP BY {keys_sql}",
                [project_id, *(connection.ops.adapt_datetimefield_value(h) for h in chunk)])


def _resum_in_python(project_id: int, hours: list[datetime]) -> None:
    cells: dict[tuple, list[int]] = {}
    for hour, dim, key, *amounts in SpendBucket.objects.filter(project_id=project_id, hour__in=hours).values_list(
            "hour", "dimension", "key", *SUMMED).iterator():
        _add(cells, (hour, dim, key), amounts)
    SpendHour.objects.bulk_create([SpendHour(project_id=project_id, hour=hour, dimension=dim, key=key,
                                             **dict(zip(SUMMED, bounded(amounts))))
                                   for (hour, dim, key), amounts in cells.items()], batch_size=500)
