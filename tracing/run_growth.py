"""Runs that only gained steps: their Run rows brought up to date from the new steps alone.

An agent's exporter sends a long run batch by batch while it runs. Recomputing the run from all its
steps at every batch made indexing it quadratic in its length (bench/long_run.py); here the new
steps' counts, tokens and cost are added to the stored row, and its start, end and models moved.

Only where that gives exactly what the rebuild (tracing.indexer.rebuild_runs) gives: the caller
passes runs with no step replaced and no duplicate mark changed, and a run is left to the rebuild
when a new step is a second root, carries an agent, user, session or tags the run's could change
by (but for its root's own), or the row's start_ns / end_ns are not what its times came from (older
rows, older workers). A run's root usually arrives last (it ends last, and exporters send spans as
they end): the row then takes the root's name, status, start and context, as the rebuild would.
PostgreSQL only: SQLite sums decimals as floats, so its rebuilt cost can differ from an exact sum
in the last digits; its runs are always rebuilt.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, Literal

from django.db import connection

from tracing import indexer  # it imports this module: its names are read at call time
from tracing.models import Run, Step
from tracing.spend import STEP_VALUES, TOKENS
from tracing.step_keys import keyed, of_runs

CONTEXT = (("agent", "agent_name"), ("session_id", "session_id"), ("user_id", "user_id"), ("tags", "tags"))
# What the run's totals, the duplicate check (tracing.dedupe) and the spend rows (tracing.spend) read of a new step.
VALUES = tuple(dict.fromkeys((*STEP_VALUES, "is_error", "end_ns", "session_id", "user_id", "tags", "service_name")))


def grow(project_id: int, steps: dict[str, list[dict[str, Any]]], now: datetime) -> dict[str, Run]:
    """{trace_id: its Run, updated and not saved} for the runs of `steps` ({trace_id: the steps
    this transaction inserted, as `read` gives them}) whose row can be brought up to date from those."""
    if connection.vendor != "postgresql" or not steps:
        return {}
    runs = {r.trace_id: r for r in of_runs(project_id, steps, Run) if _kept_exactly(r)}
    roots = {t: root_of(run, steps[t]) for t, run in runs.items()}
    runs = {t: run for t, run in runs.items() if roots[t] is not False}  # a second root: rebuilt
    _keep_context(project_id, runs, steps, roots)
    models = _models_moving(project_id, runs, steps)
    for t, run in runs.items():
        if roots[t] is not None:
            take_root(run, roots[t])
        add(run, steps[t], now)
        if t in models:
            run.models_used = models[t]
    return runs


def fresh(project_id: int, trace_id: str, steps: list[dict[str, Any]], now: datetime) -> Run:
    """The Run row of a run first seen in this transaction, from its steps (as `read` gives them,
    duplicate marks as stored), not saved: what the rebuild computes from the same steps. The
    caller knows they are all the run's steps: a run has no Run row only until its first steps are
    written, in the same transaction (retention deletes a run's steps with its row). An empty row
    with the context the rebuild reads (the first step carrying each), its root taken and its steps
    added, as a run that grows."""
    ordered = sorted(steps, key=lambda s: (s["start_ns"], s["span_id"]))
    first_calls: dict[str, int] = {}
    for s in ordered:  # by start: a model's first call comes first
        if s["kind"] in indexer.TOKEN_KINDS and not s["duplicate_of"] and s["model"]:
            first_calls.setdefault(s["model"], s["start_ns"])
    run = Run(project_id=project_id, trace_id=trace_id, status=Run.IN_PROGRESS, start_ns=ordered[0]["start_ns"],
              end_ns=ordered[0]["end_ns"], models_used=sorted(first_calls, key=lambda m: (first_calls[m], m)))
    for field, source in CONTEXT:
        value = next((s[source] for s in ordered if _carries_context(s) and s[source]), None)
        setattr(run, field, value or ([] if field == "tags" else ""))
    root = next((s for s in ordered if not s["parent_span_id"]), None)
    if root is not None:
        take_root(run, root)
    add(run, steps, now)
    return run


def root_of(run: Run, steps: list[dict[str, Any]]) -> dict[str, Any] | None | Literal[False]:
    """The run's root among its new steps; None if none is; False if the rebuild could take
    another (the run has one already, or several arrived)."""
    new = [s for s in steps if not s["parent_span_id"]]
    if not new:
        return None
    return new[0] if len(new) == 1 and not run.root_span_id else False


def take_root(run: Run, root: dict[str, Any]) -> None:
    """The row of a run that had no root, once its root has arrived (before `add`, which counts it
    and ends the run at its latest step): the root's span, name, service and status, its start, and
    its context where it carries one (the rebuild prefers the root's; _keep_context checked the rest)."""
    run.root_span_id = root["span_id"]
    run.name = root["name"][:300]
    run.service = root["service_name"][:200]
    run.status = Run.ERROR if root["is_error"] else Run.OK
    run.start_ns = root["start_ns"]
    run.started_at = indexer.ns_to_datetime(run.start_ns)
    for field, source in CONTEXT:
        if root[source]:
            setattr(run, field, root[source][:200] if field != "tags" else root[source])


def _kept_exactly(run: Run) -> bool:
    """Whether the row's start_ns and end_ns are what its times came from: NULL before migration
    0010, and stale where a worker of an older version rebuilt the row after it (a rolling upgrade)."""
    if run.start_ns is None or run.end_ns is None:
        return False
    ended = indexer.ns_to_datetime(run.end_ns) if run.root_span_id and run.end_ns else None
    return run.started_at == indexer.ns_to_datetime(run.start_ns) and run.ended_at == ended


def read(project_id: int, new: dict[str, set[str]]) -> dict[str, list[dict[str, Any]]]:
    """{trace_id: the new steps as stored, by start}."""
    out: dict[str, list[dict]] = {}
    if not new:
        return out
    for s in keyed(project_id, new).order_by("trace_id", "start_ns", "span_id").values(
            "trace_id", *VALUES):
        out.setdefault(s["trace_id"], []).append(s)
    return out


def values_of(steps: list[Step]) -> dict[str, list[dict[str, Any]]]:
    """What `read` gives for these steps, just inserted, without reading them: build_step holds
    each of VALUES in the form PostgreSQL returns it (the cost rounded to its column, the requested
    tools' names as text, the rest strings, integers and lists of strings).
    tests/tracing/test_run_growth.py checks this against `read` over the corpus and hostile spans."""
    out: dict[str, list[dict]] = {}
    fields, values = ("trace_id", *VALUES), attrgetter("trace_id", *VALUES)
    for step in sorted(steps, key=attrgetter("trace_id", "start_ns", "span_id")):
        out.setdefault(step.trace_id, []).append(dict(zip(fields, values(step))))
    return out


def _carries_context(s: dict[str, Any]) -> bool:
    """The steps the rebuild reads a run's context from (tracing.indexer.rebuild_runs)."""
    return (not s["parent_span_id"] or bool(s["agent_name"] or s["session_id"] or s["user_id"])
            or bool(s["model"] and s["tags"]))


def _keep_context(project_id: int, runs: dict[str, Run], steps: dict[str, list[dict]],
                  new_roots: dict[str, dict | None]) -> None:
    """Drop from `runs` those whose agent, session, user or tags a new step could change. The
    rebuild takes each from the root, else from the first step carrying one: a new step carrying
    nothing, or the run's own value, changes nothing; one carrying another value changes nothing
    only when the root carries its own. A root arriving now (`new_roots`) sets what it carries
    (take_root) and is not counted here."""
    doubt = {t: [f for f, source in CONTEXT if any(_carries_context(s) and s[source] and s[source] != getattr(run, f)
                                                   for s in steps[t] if s is not new_roots.get(t))]
             for t, run in runs.items()}
    doubt = {t: fields for t, fields in doubt.items() if fields}
    if not doubt:
        return
    roots: dict[str, dict] = {t: new_roots[t] for t in doubt if new_roots.get(t) is not None}
    stored = {t: [runs[t].root_span_id] for t in doubt if t not in roots and runs[t].root_span_id}
    for row in keyed(project_id, stored).values("trace_id", *(source for _, source in CONTEXT)) if stored else ():
        roots[row["trace_id"]] = row
    for t, fields in doubt.items():
        root = roots.get(t)
        if root is None or any(not root[source] for f, source in CONTEXT if f in fields):
            del runs[t]


def _models_moving(project_id: int, runs: dict[str, Run], steps: dict[str, list[dict]]) -> dict[str, list[str]]:
    """The models_used of the runs whose list a new call may change: a model new to the run, or
    a run of several models (their order is by first call). Read as the rebuild reads them."""
    moving = [t for t, run in runs.items()
              if any(s["kind"] in indexer.TOKEN_KINDS and s["model"] and not s["duplicate_of"]
                     and (s["model"] not in run.models_used or len(run.models_used) > 1) for s in steps[t])]
    return indexer.models_used(project_id, moving) if moving else {}


def add(run: Run, steps: list[dict[str, Any]], now: datetime) -> None:
    """The new steps' counts, tokens, cost, start and end added to the run's row, as the rebuild
    counts them: duplicates (none here: the caller checked) count toward no total."""
    llm = [s for s in steps if s["kind"] in indexer.TOKEN_KINDS and not s["duplicate_of"]]
    run.steps += len(steps)
    run.llm_calls += sum(1 for s in llm if s["kind"] == "llm")
    run.tool_calls += sum(1 for s in steps if s["kind"] == "tool")
    run.errors += sum(1 for s in steps if s["is_error"])
    for field in TOKENS:
        setattr(run, field, getattr(run, field) + sum(s[field] or 0 for s in llm))
    costs = [s["cost_usd"] for s in steps if s["kind"] != "agent" and not s["duplicate_of"] and s["cost_usd"] is not None]
    if costs:
        run.cost_usd = min((run.cost_usd or Decimal(0)) + sum(costs), indexer.MAX_RUN_COST)
    run.unpriced_calls += sum(1 for s in llm if s["cost_usd"] is None)
    if not run.root_span_id:  # no root: the run starts at its earliest step, and has no end yet
        run.start_ns = min(run.start_ns, *(s["start_ns"] for s in steps))
        run.started_at = indexer.ns_to_datetime(run.start_ns)
        run.status = Run.IN_PROGRESS
    run.end_ns = max(run.end_ns, *(s["end_ns"] for s in steps))
    if run.root_span_id:  # as the rebuild: an end at 0 is no end
        run.ended_at = indexer.ns_to_datetime(run.end_ns) if run.end_ns else None
        run.duration_ms = (run.end_ns - run.start_ns) / 1e6 if run.end_ns else None
    run.last_seen_at = now
