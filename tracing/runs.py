"""Queries over Runs and Steps for the pages and the API: filtering, keyset paging, the step tree."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import BooleanField, Count, Exists, F, OuterRef, Q, Sum
from django.db.models.expressions import RawSQL

from tracing import search
from tracing.models import Run, Step

# Sort keys users see in URLs -> Run fields. All numeric (or time); nulls always sort last.
SORTS = {
    "started": "started_at", "duration": "duration_ms", "steps": "steps", "llm": "llm_calls",
    "tools": "tool_calls", "errors": "errors", "input": "input_tokens", "cached": "cache_read_tokens",
    "output": "output_tokens", "reasoning": "reasoning_tokens", "cost": "cost_usd",
}
DEFAULT_SORT = "-started"
STATUSES = [Run.OK, Run.ERROR, Run.IN_PROGRESS, Run.INCOMPLETE]
# What the tree, waterfall and charts read: never the (possibly huge) content columns.
TREE_FIELDS = ("span_id", "parent_span_id", "name", "kind", "is_error", "start_ns", "end_ns", "model",
               "tool_name", "input_tokens", "cache_read_tokens", "cost_usd", "cost_source")


@dataclass
class RunFilter:
    agent: str = ""
    status: str = ""
    model: str = ""
    provider: str = ""
    since: datetime | None = None
    until: datetime | None = None
    min_cost: Decimal | None = None
    session: str = ""
    user: str = ""
    tag: str = ""
    q: str = ""


def recent_runs(project):
    return Run.objects.filter(project=project).order_by("-started_at", "-id")


def _json_list_has(field: str, value: str) -> Q | RawSQL:
    """`value` is an element of the JSON list column `field` (JSON `contains` is PostgreSQL-only)."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__contains": [value]})
    return RawSQL(f"EXISTS (SELECT 1 FROM json_each(tracing_run.{field}) WHERE value = %s)", [value],
                  output_field=BooleanField())


def filter_runs(project, f: RunFilter):
    runs = Run.objects.filter(project=project)
    exact = {"agent": f.agent, "status": f.status, "session_id": f.session, "user_id": f.user}
    runs = runs.filter(**{field: value for field, value in exact.items() if value})
    if f.since:
        runs = runs.filter(started_at__gte=f.since)
    if f.until:
        runs = runs.filter(started_at__lt=f.until)
    if f.min_cost is not None:
        runs = runs.filter(cost_usd__gte=f.min_cost)
    if f.model:
        runs = runs.filter(_json_list_has("models_used", f.model))
    if f.tag:
        runs = runs.filter(_json_list_has("tags", f.tag))
    if f.provider:
        runs = runs.filter(Exists(Step.objects.filter(
            project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id"), provider=f.provider)))
    if f.q:
        runs = search.filter_runs(runs, project.id, f.q)
    return runs


# --- keyset (cursor) paging --------------------------------------------------------------------


class BadCursor(ValueError):
    pass


def parse_sort(sort: str) -> tuple[str, bool]:
    """'-cost' -> ('cost', descending). Unknown keys fall back to the default."""
    key = (sort or DEFAULT_SORT).lstrip("-")
    if key not in SORTS:
        return parse_sort(DEFAULT_SORT)
    return key, sort.startswith("-")


def _encode_value(value):
    return value.isoformat() if isinstance(value, datetime) else None if value is None else str(value)


def _decode_value(field: str, raw):
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadCursor("bad cursor value")
    try:
        if field == "started_at":
            return datetime.fromisoformat(raw)
        if field == "cost_usd":
            return Decimal(raw)
        if field == "duration_ms":
            return float(raw)
        return int(raw)
    except (ValueError, InvalidOperation) as exc:
        raise BadCursor("bad cursor value") from exc


def encode_cursor(run, field: str) -> str:
    payload = json.dumps([_encode_value(getattr(run, field)), run.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str):
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise BadCursor("bad cursor") from exc
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise BadCursor("bad cursor id")
    return _decode_value(field, value), last_id


def _nullable(field: str) -> bool:
    return Run._meta.get_field(field).null


def _after(field: str, desc: bool, value, last_id: int) -> Q:
    """Rows strictly after (value, id) in `field` order (desc or asc), nulls last, ties by id."""
    before_id = Q(id__lt=last_id) if desc else Q(id__gt=last_id)
    if value is None:
        return Q(**{f"{field}__isnull": True}) & before_id
    beyond = Q(**{f"{field}__lt" if desc else f"{field}__gt": value}) | (Q(**{field: value}) & before_id)
    return beyond | Q(**{f"{field}__isnull": True}) if _nullable(field) else beyond


def page(runs, sort: str = DEFAULT_SORT, cursor: str = "", limit: int = 50):
    """One page of `runs` in `sort` order after `cursor`: (list of runs, next cursor or None)."""
    key, desc = parse_sort(sort)
    field = SORTS[key]
    if cursor:
        runs = runs.filter(_after(field, desc, *decode_cursor(cursor, field)))
    # NULLS LAST only where a column can be null: on started_at it would stop PostgreSQL using run_recent.
    nulls_last = True if _nullable(field) else None
    order = F(field).desc(nulls_last=nulls_last) if desc else F(field).asc(nulls_last=nulls_last)
    rows = list(runs.order_by(order, "-id" if desc else "id")[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1], field)
    return rows, None


def facets(project, recent: int = 1000) -> dict[str, list[str]]:
    """Values to suggest in the filter inputs, from the most recent runs (one bounded query)."""
    seen = {"agents": set(), "models": set(), "sessions": set(), "users": set(), "tags": set()}
    for agent, models, session, user, tags in (
        Run.objects.filter(project=project).order_by("-started_at")
        .values_list("agent", "models_used", "session_id", "user_id", "tags")[:recent]
    ):
        seen["agents"].add(agent)
        seen["sessions"].add(session)
        seen["users"].add(user)
        seen["models"].update(m for m in models or [] if isinstance(m, str))
        seen["tags"].update(t for t in tags or [] if isinstance(t, str))
    return {name: sorted(v for v in values if v)[:200] for name, values in seen.items()}


# --- one run ---------------------------------------------------------------------------------


class StepRow:
    """A step as the tree, waterfall and charts see it: TREE_FIELDS only, no model instance overhead."""

    __slots__ = TREE_FIELDS + ("depth", "has_children", "offset_pct", "width_pct")

    def __init__(self, values):
        for name, value in zip(TREE_FIELDS, values):
            setattr(self, name, value)

    @property
    def duration_ms(self):
        return (self.end_ns - self.start_ns) / 1e6 if self.end_ns >= self.start_ns else None


def _tree_order(steps):
    """Depth first, siblings by start time; sets `depth` and `has_children`. Steps whose parent is
    missing (not arrived yet, or outside the trace) are shown at the top level."""
    by_id = {s.span_id: s for s in steps}
    children: dict[str, list] = {}
    roots = []
    for s in steps:
        if s.parent_span_id and s.parent_span_id in by_id and s.parent_span_id != s.span_id:
            children.setdefault(s.parent_span_id, []).append(s)
        else:
            roots.append(s)
    ordered, seen = [], set()
    stack = [(s, 0) for s in reversed(roots)]
    while stack:
        step, depth = stack.pop()
        if step.span_id in seen:  # a cycle in hostile parent links
            continue
        seen.add(step.span_id)
        step.depth = depth
        ordered.append(step)
        stack.extend((c, depth + 1) for c in reversed(children.get(step.span_id, [])))
    for step in steps:  # members of a parent cycle are never reached from a root; keep them visible
        if step.span_id not in seen:
            step.depth = 0
            ordered.append(step)
    for step in ordered:
        step.has_children = step.span_id in children
    return ordered


def _run_steps(run):
    return Step.objects.filter(project_id=run.project_id, trace_id=run.trace_id).order_by("start_ns", "span_id")


def step_tree(run):
    """The run's Steps (every field) in tree order, each with a `depth`."""
    return _tree_order(list(_run_steps(run)))


def tree_rows(run):
    """The run's steps as light StepRows in tree order: what the run page, its charts and cost read."""
    return _tree_order([StepRow(values) for values in _run_steps(run).values_list(*TREE_FIELDS)])


def timeline(steps) -> dict:
    """Place each step on the waterfall: `offset_pct` and `width_pct` of the run's span of time."""
    if not steps:
        return {"start_ns": 0, "total_ms": 0.0}
    start = min(s.start_ns for s in steps)
    total = max(max(s.end_ns for s in steps) - start, 1)
    for s in steps:
        s.offset_pct = round((s.start_ns - start) * 100 / total, 3)
        s.width_pct = round(max((s.end_ns - s.start_ns) * 100 / total, 0.15), 3)
    return {"start_ns": start, "total_ms": total / 1e6}


def cost_summary(run) -> dict:
    """The run's cost split by component (input, cache read, output, …) and by model, from its
    priced steps' exact breakdowns; counts of computed, reported and unpriced calls."""
    parts: dict[str, Decimal] = {}
    by_model: dict[str, list] = {}
    sources = {"computed": 0, "reported": 0, "unpriced": 0}
    priced = (_run_steps(run).exclude(cost_source="").exclude(kind="agent")  # agents repeat their children
              .values_list("model", "cost_usd", "cost_source", "cost_breakdown"))
    for model, cost, source, breakdown in priced:
        sources[source] = sources.get(source, 0) + 1
        entry = by_model.setdefault(model or "(no model)", [Decimal(0), 0, 0])
        entry[1] += 1
        if cost is None:
            entry[2] += 1
            continue
        entry[0] += cost
        for name, amount in (breakdown if isinstance(breakdown, dict) else {}).items():
            try:
                parts[name] = parts.get(name, Decimal(0)) + Decimal(str(amount))
            except InvalidOperation:
                continue
    models = [{"model": m, "cost": c, "calls": n, "unpriced": u} for m, (c, n, u) in by_model.items()]
    return {"parts": sorted(parts.items(), key=lambda kv: -kv[1]), "models": models, "sources": sources}


def requested_tool_steps(step) -> dict[str, str]:
    """For an LLM step: call id -> span id of the tool step in the same run that ran that call."""
    ids = [c.get("id") for c in step.tool_calls or [] if isinstance(c, dict) and c.get("id")]
    if not ids:
        return {}
    return dict(Step.objects.filter(project_id=step.project_id, trace_id=step.trace_id, tool_call_id__in=ids)
                .values_list("tool_call_id", "span_id"))


def session_runs(project, session_id: str, limit: int = 500):
    """Runs sharing a session id, oldest first, with totals over all of them."""
    runs = Run.objects.filter(project=project, session_id=session_id)
    totals = runs.aggregate(
        runs=Count("id"), steps=Sum("steps"), errors=Sum("errors"), input_tokens=Sum("input_tokens"),
        cache_read_tokens=Sum("cache_read_tokens"), output_tokens=Sum("output_tokens"),
        reasoning_tokens=Sum("reasoning_tokens"), cost_usd=Sum("cost_usd"), unpriced_calls=Sum("unpriced_calls"),
        llm_calls=Sum("llm_calls"), tool_calls=Sum("tool_calls"),
    )
    return list(runs.order_by("started_at", "id")[:limit]), totals
