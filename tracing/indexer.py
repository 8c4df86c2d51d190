"""Turn decoded spans into Step rows and recompute the Runs they touch.

Idempotent by construction: Steps are upserted on (project, trace_id, span_id),
a re-sent span replaces the stored copy only if it is at least as complete
(`version`), and Run aggregates are recomputed from Steps, or, for a run that only
gained steps, added to where that gives the same (tracing.run_growth, tested against
the rebuild).
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.base import ModelState

from tracing import bulk, dedupe, pricing, received, run_growth, search, spend
from tracing.conventions import normalize
from tracing.models import Run, SearchDocument, Step
from tracing.spend_models import MONEY_UNIT
from tracing.redaction import redactor_for
from tracing.spans import SpanRecord
from tracing.step_keys import by_trace, keyed, of_runs
from tracing.steps import StepData

LATEST_DOCUMENTS = 8  # the search documents of a run whose words a new one leaves out (index_words)
# No call reads or writes ten billion tokens; and sums of counts this size fit the bigint columns
# (Run, spend) whatever a hostile client sends.
MAX_TOKENS = 10**10
# Run.cost_usd's column holds less than $10^10: a run's cost reaches that only from hostile spans
# (~1,000,000 calls at pricing.MAX_CALL_COST), and stops there rather than fail the run's every batch.
# Whole dollars: SQLite stores decimals as doubles, and $9,999,999,999.99… would read back as 10^10.
MAX_RUN_COST = Decimal(9_999_999_999)
TOKEN_KINDS = ("llm", "embedding")  # agent spans often repeat their children's totals: never summed
STEP_FIELDS = [
    f.name for f in Step._meta.concrete_fields if f.name not in ("id", "project", "trace_id", "span_id")
]


def ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=dt_timezone.utc)


_VERSION_MAX_US = (2**63 - 1) // 1024 - 1  # an end after ~2255 (OTLP allows int64 nanoseconds) counts as then


def _version(span: SpanRecord) -> int:
    # Later end wins; then more attributes. Bounded so it fits a bigint.
    return min(span.end_ns // 1000, _VERSION_MAX_US) * 1024 + min(len(span.attributes) + len(span.events), 1023)


def _count(value):
    """Token counts from hostile spans: a negative or absurd number is treated as not reported."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
        return value
    return None


def build_step(project_id: int, span: SpanRecord, data: StepData) -> Step:
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        setattr(data, name, _count(getattr(data, name)))
    at = ns_to_datetime(span.start_ns or span.end_ns)
    cost = pricing.price(
        provider=data.provider,
        model=data.model,
        input_tokens=data.input_tokens,
        output_tokens=data.output_tokens,
        cache_read_tokens=data.cache_read_tokens,
        cache_write_tokens=data.cache_write_tokens,
        reasoning_tokens=data.reasoning_tokens,
        reported_cost=data.reported_cost,
        at=at,
    ) if data.kind in TOKEN_KINDS or data.reported_cost is not None else None
    # What caching saved, which the spend upkeep reads: None when unpriced (tracing.spend prices it then).
    savings = cost.cache_savings if cost and cost.total is not None and data.kind in TOKEN_KINDS else None
    # Rounded to the column as PostgreSQL rounds (half away from zero), so the Step holds what is stored
    # (run_growth.values_of reads it instead of the stored row); pricing bounds it well within the column.
    total = cost.total.quantize(MONEY_UNIT, ROUND_HALF_UP) if cost and cost.total is not None else None
    step = _new_step(
        project_id=project_id,
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id or "",
        name=(data.name or span.name)[:300],
        kind=data.kind,
        operation=data.operation[:60],
        convention=data.convention[:30],
        is_error=data.is_error,
        start_ns=span.start_ns,
        end_ns=max(span.end_ns, span.start_ns),
        version=_version(span),
        model=data.model[:200],
        request_model=data.request_model[:200],
        provider=data.provider[:100],
        input_tokens=data.input_tokens,
        output_tokens=data.output_tokens,
        cache_read_tokens=data.cache_read_tokens,
        cache_write_tokens=data.cache_write_tokens,
        reasoning_tokens=data.reasoning_tokens,
        cost_usd=total,
        cost_source=cost.source if cost else "",
        cost_breakdown=cost.breakdown if cost else {},
        cost_note=cost.note if cost else "",
        price_version=cost.price_version if cost else "",
        # in the stored precision, rounded as tracing.spend.to_units rounds: its units are exact
        cache_savings_usd=savings.quantize(MONEY_UNIT, ROUND_HALF_EVEN) if savings is not None else None,
        input=data.input,
        output=data.output,
        system_instructions=data.system_instructions,
        tool_definitions=data.tool_definitions,
        reasoning=data.reasoning,
        tool_calls=data.tool_calls,
        finish_reasons=data.finish_reasons,
        tool_name=data.tool_name[:200],
        tool_call_id=data.tool_call_id[:200],
        tool_arguments=data.tool_arguments,
        tool_result=data.tool_result,
        session_id=data.session_id[:200],
        user_id=data.user_id[:200],
        agent_name=data.agent_name[:200],
        tags=[str(t)[:200] for t in data.tags][:50],
        metadata=data.metadata,
        service_name=(data.service_name or str(span.resource.get("service.name", "")))[:200],
        environment=data.environment[:100],
        error_type=data.error_type[:200],
        error_message=data.error_message,
        attributes=data.unmapped,
        raw={
            "name": span.name,  # the normalizer may rename the step; exports need the span's own name
            "kind": span.kind,
            "status": {"code": span.status_code, "message": span.status_message},
            "attributes": span.attributes,
            "events": [{"name": e.name, "time_ns": e.time_ns, "attributes": e.attributes} for e in span.events],
            "resource": span.resource,
            "scope": {"name": span.scope_name, "version": span.scope_version},
        },
    )
    # Its messages, arguments and results are in the columns above: raw keeps recipes for them.
    step.raw = received.compact(step.raw, received.step_columns(step))
    return step


_STEP_DEFAULTS = [(f.attname, f) for f in Step._meta.concrete_fields]


def _new_step(**values) -> Step:
    """Step(**values) with every field given by its attname, the rest defaulted, built without
    Model.__init__: it sets the ~60 fields one setattr at a time (~4% of a worker's CPU). Step has
    no pre_init/post_init receivers and its fields no descriptors that assignment goes through,
    so the instance is the same (tests/ingest/test_indexing.py compares them)."""
    step = Step.__new__(Step)
    fields = step.__dict__
    for attname, field in _STEP_DEFAULTS:
        if attname not in values:
            fields[attname] = field.get_default()
    fields.update(values)
    step._state = ModelState()
    return step


def index_spans(project_id: int, spans: Iterable[SpanRecord]) -> set[str]:
    """1. keep the most complete copy of each span; 2. normalize, redact, price (no lock held:
    concurrent workers share most traces, since consecutive batches carry the same runs);
    3. lock the touched traces (serializes concurrent workers on the same run); 4. drop copies
    older than what is stored; 5. bulk upsert; 6. recompute the touched runs. Must run inside
    a transaction."""
    latest: dict[tuple[str, str], SpanRecord] = {}
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key not in latest or _version(span) >= _version(latest[key]):
            latest[key] = span
    if not latest:
        return set()
    trace_ids = sorted({t for t, _ in latest})
    built, words = build_steps(project_id, latest.values())

    lock_traces(project_id, trace_ids)
    stored = dict(((t, s), v) for t, s, v in keyed(project_id, by_trace(latest))
                  .values_list("trace_id", "span_id", "version"))
    rows, stale = [], set()
    for step in built:
        if stored.get((step.trace_id, step.span_id), -1) <= step.version:
            rows.append(step)
        else:
            stale.add(step.trace_id)
    replaced = {step.trace_id for step in rows if (step.trace_id, step.span_id) in stored}
    new: list[Step] = []
    if rows:
        new = write_steps(rows, stored)
        written = {step.trace_id for step in rows}
        # A run with a replaced step (its old words may be gone) or a stale copy left out (its words
        # are in `words`) has its documents rebuilt from its stored steps.
        index_words(project_id, {t: words[t] for t in written}, replaced | (stale & written))
    added: dict[str, set[str]] = {}  # runs that only gained steps, and those steps
    for step in rows:
        if step.trace_id not in replaced:
            added.setdefault(step.trace_id, set()).add(step.span_id)
    inserted = run_growth.values_of(new) if connection.vendor == "postgresql" else None
    recompute_runs(project_id, trace_ids, added, inserted)
    return set(trace_ids)


def build_steps(project_id: int, spans: Iterable[SpanRecord]) -> tuple[list[Step], dict[str, set[str]]]:
    """The spans normalized, redacted and built into Steps (not saved), and each run's distinct words."""
    redact = redactor_for(project_id)
    # Per run: the strings of its steps already redacted, and its steps' text for the words. An
    # agent's LLM calls re-send the conversation so far; each message is scanned and split once per run.
    built: list[Step] = []
    clean: dict[str, set[str]] = {}
    run_words = search.RunWords()
    for span in spans:
        data = normalize(span)
        redact(data, span, clean.setdefault(span.trace_id, set()))
        step = build_step(project_id, span, data)
        # Explorer full-text search (tracing/search.py), after redaction: the run's distinct words,
        # split from all its steps' text at once (one set per run, not one per step merged into it).
        run_words.add(span.trace_id, step)
        built.append(step)
    return built, run_words.words()


def index_words(project_id: int, words: dict[str, set[str]], rebuilt: set[str]) -> None:
    """One search document per run: the distinct words of the steps just written; the runs in
    `rebuilt` get theirs from all their stored steps instead, replacing the ones they had."""
    if rebuilt:
        of_runs(project_id, rebuilt, SearchDocument).delete()
        run_words = search.RunWords(rebuilt)
        for step in of_runs(project_id, rebuilt).only("trace_id", *search.CONTENT_FIELDS):
            run_words.add(step.trace_id, step)
        words.update(run_words.words())
    # A run indexed before keeps the words its documents hold: only the others go in (each word of
    # a document is a GIN entry, and an agent's later calls repeat most of the conversation's words).
    # Its latest documents only: a run streaming in has one per batch, and reading them all at each
    # batch grew with its length. A word only an older one holds is stored again: found all the same.
    for trace_id, held in search.stored_words(project_id, sorted(t for t in words if t not in rebuilt),
                                              latest=LATEST_DOCUMENTS):
        words[trace_id] -= held
    bulk.insert(SearchDocument, search.documents(project_id, words))


def write_steps(rows: list[Step], stored: dict) -> list[Step]:
    """Upsert on (project, trace_id, span_id), every Step field; returns the rows not stored before.

    On PostgreSQL the spans not stored yet (the traces are locked, so `stored` is exact) go in
    with COPY, JSON serialised by orjson: Django's bulk_create binds each column as an array
    that psycopg escapes element by element in Python, which cost more than normalizing the
    span. Re-sent spans, rare, take the ON CONFLICT DO UPDATE path."""
    new = [step for step in rows if (step.trace_id, step.span_id) not in stored]
    if connection.vendor != "postgresql":
        _upsert(rows)
        return new
    if len(new) < len(rows):
        _upsert([step for step in rows if (step.trace_id, step.span_id) in stored])
    bulk.insert(Step, new)
    return new


def _upsert(rows: list[Step]) -> None:
    Step.objects.bulk_create(rows, batch_size=500, update_conflicts=True,
                             unique_fields=["project", "trace_id", "span_id"], update_fields=STEP_FIELDS)


def lock_traces(project_id: int, trace_ids: list[str]) -> None:
    """Transaction-scoped advisory locks on these runs (PostgreSQL): the indexer, spend rebuilds and
    retention take them before writing a run's rows."""
    if connection.vendor != "postgresql":
        return  # SQLite has a single writer: the transaction already serializes
    keys = [zlib.crc32(f"{project_id}:{t}".encode()) - 2**31 for t in trace_ids]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k ORDER BY k",
            [project_id % 2**31, sorted(keys)],
        )


def recompute_runs(project_id: int, trace_ids: list[str], added: dict[str, set[str]] | None = None,
                   inserted: dict[str, list[dict]] | None = None) -> None:
    """Every Run aggregate from its Steps: three set-based queries, one bulk upsert; then the runs'
    spend rows. `added`: {trace_id: span ids} of runs whose only change is these new steps: if
    their duplicate marks stay the same, their Run row gains those steps (tracing.run_growth) where
    that gives what the rebuild would, and, if their context (agent, user, session, tags) stays
    the same or their root arrived and set it, their spend rows gain those steps' amounts
    (tracing.spend.add_new_steps). A run streaming in batch by batch then costs each batch what its
    new steps cost, not its length.
    `inserted`: {trace_id: the steps this transaction inserted, as run_growth.read gives them}, from
    memory (run_growth.values_of; PostgreSQL): then they are not read back, for the runs' rows or
    their spend rows, and a run first seen now has its row computed from them (run_growth.fresh)."""
    now = datetime.now(dt_timezone.utc)
    # The context of the runs that existed: a run first seen now has nothing to add to.
    before = {t: (agent, user, session, tags) for t, agent, user, session, tags in of_runs(
        project_id, added, Run).values_list(
        "trace_id", "agent", "user_id", "session_id", "tags")} if added else {}
    # Runs first seen now: all their steps are the ones this transaction inserted (in memory on PostgreSQL).
    first_seen = {t: inserted[t] for t in (added or {}) if t not in before and inserted and t in inserted}
    added = {t: spans for t, spans in (added or {}).items() if t in before}
    new_steps = ({t: inserted[t] for t in added if t in inserted} if inserted is not None
                 else run_growth.read(project_id, added))
    # Duplicate LLM spans (a provider SDK's own span repeating the instrumentation's): mark them across
    # all batches of these traces first; the aggregates below leave them out (tracing/dedupe.py).
    remarked = dedupe.mark_duplicates(project_id, trace_ids, grown=new_steps, first_seen=first_seen)
    added = {t: spans for t, spans in added.items() if t not in remarked}
    grown = run_growth.grow(project_id, {t: new_steps[t] for t in added if t in new_steps}, now)
    fresh = {t: steps for t, steps in first_seen.items() if t not in remarked}  # their marks are those in memory
    rebuilt = [t for t in trace_ids if t not in grown and t not in fresh]
    runs = [run_growth.fresh(project_id, t, steps, now) for t, steps in fresh.items()]
    runs += rebuild_runs(project_id, rebuilt, now) if rebuilt else []
    bulk.upsert(Run, sorted([*runs, *grown.values()], key=lambda r: r.trace_id), unique_fields=["project", "trace_id"])
    # Spend: these runs' pre-aggregated spend rows (tracing.spend_models), same transaction. A grown run
    # may have changed its context: its root arrived (tracing.run_growth.take_root).
    moved = {t: before[t] for t, r in grown.items() if before[t] != (r.agent, r.user_id, r.session_id, r.tags)}
    kept = [*grown, *(r.trace_id for r in runs
                      if r.trace_id in added and before.get(r.trace_id) == (r.agent, r.user_id, r.session_id, r.tags))]
    done, gained, left = (spend.add_new_steps(project_id, {t: new_steps.get(t, []) for t in kept}, moved) if kept
                          else (set(), {}, {}))
    # The steps of the rebuilt runs this transaction inserted, but in runs where a duplicate mark
    # changed since (the marks are what the database holds that they lack), are not read back for
    # their spend rows: only the runs' other steps are.
    known = {r.trace_id: inserted[r.trace_id] for r in runs
             if inserted and r.trace_id in inserted and r.trace_id not in remarked}
    spend.recompute_buckets(project_id, [t for t in trace_ids if t not in done], gained=gained, known=known,
                            counts={r.trace_id: r.steps for r in runs}, left=left)


def models_used(project_id: int, trace_ids: list[str]) -> dict[str, list[str]]:
    """{trace_id: the models of its LLM calls (duplicates left out), in the order of their first call;
    two first called at the same nanosecond: by name}."""
    models: dict[str, list[str]] = {t: [] for t in trace_ids}
    llm_models = Q(kind__in=TOKEN_KINDS, duplicate_of="") & ~Q(model="")
    for row in sorted(of_runs(project_id, trace_ids, where=llm_models)
                      .values("trace_id", "model").annotate(first=Min("start_ns")),
                      key=lambda r: (r["first"], r["model"])):
        models[row["trace_id"]].append(row["model"])
    return models


def rebuild_runs(project_id: int, trace_ids: list[str], now: datetime) -> list[Run]:
    """These runs' Run rows from all their Steps (not saved)."""
    steps = of_runs(project_id, trace_ids)
    llm = Q(kind__in=TOKEN_KINDS, duplicate_of="")  # dedupe: duplicates count toward no total
    totals = {
        row["trace_id"]: row
        for row in steps.values("trace_id").annotate(
            n=Count("id"),
            llm_calls=Count("id", filter=Q(kind="llm", duplicate_of="")),  # dedupe
            tool_calls=Count("id", filter=Q(kind="tool")),
            errors=Count("id", filter=Q(is_error=True)),
            input_tokens=Sum("input_tokens", filter=llm),
            output_tokens=Sum("output_tokens", filter=llm),
            cache_read_tokens=Sum("cache_read_tokens", filter=llm),
            cache_write_tokens=Sum("cache_write_tokens", filter=llm),
            reasoning_tokens=Sum("reasoning_tokens", filter=llm),
            cost=Sum("cost_usd", filter=~Q(kind="agent") & Q(duplicate_of="")),  # dedupe
            unpriced=Count("id", filter=llm & Q(cost_usd__isnull=True)),
            start=Min("start_ns"),
            end=Max("end_ns"),
            last_seen=Max("id"),
        )
    }
    context: dict[str, dict] = {}
    # The roots, and the steps that carry a context (most carry none: these are read for every batch).
    for row in (
        steps.filter(Q(parent_span_id="") | ~Q(agent_name="") | ~Q(session_id="") | ~Q(user_id="")
                     | (~Q(model="") & ~Q(tags=[])))
        .order_by("trace_id", "start_ns", "span_id")
        .values("trace_id", "span_id", "parent_span_id", "name", "is_error", "start_ns", "end_ns",
                "agent_name", "session_id", "user_id", "tags", "service_name")
    ):
        ctx = context.setdefault(row["trace_id"], {"root": None, "agent": "", "session": "", "user": "", "tags": []})
        if not row["parent_span_id"] and ctx["root"] is None:
            ctx["root"] = row
        for field, source in (("agent", "agent_name"), ("session", "session_id"), ("user", "user_id")):
            ctx[field] = ctx[field] or row[source]
        ctx["tags"] = ctx["tags"] or row["tags"]
    models = models_used(project_id, trace_ids)
    runs = []
    for trace_id in trace_ids:
        t = totals.get(trace_id)
        if t is None:
            continue
        ctx = context.get(trace_id, {"root": None, "agent": "", "session": "", "user": "", "tags": []})
        root = ctx["root"]
        # Root agent/session/user win over what a child carried.
        agent = (root and root["agent_name"]) or ctx["agent"]
        if root is None:
            status = Run.IN_PROGRESS
        else:
            status = Run.ERROR if root["is_error"] else Run.OK
        start_ns = root["start_ns"] if root else t["start"]
        end_ns = max(root["end_ns"], t["end"]) if root else None
        runs.append(
            Run(
                project_id=project_id,
                trace_id=trace_id,
                root_span_id=root["span_id"] if root else "",
                name=(root["name"] if root else "")[:300],
                agent=agent[:200],
                service=(root["service_name"] if root else "")[:200],
                status=status,
                started_at=ns_to_datetime(start_ns),
                ended_at=ns_to_datetime(end_ns) if end_ns else None,
                duration_ms=(end_ns - start_ns) / 1e6 if end_ns else None,
                start_ns=start_ns,
                end_ns=t["end"],
                steps=t["n"],
                llm_calls=t["llm_calls"],
                tool_calls=t["tool_calls"],
                errors=t["errors"],
                input_tokens=t["input_tokens"] or 0,
                output_tokens=t["output_tokens"] or 0,
                cache_read_tokens=t["cache_read_tokens"] or 0,
                cache_write_tokens=t["cache_write_tokens"] or 0,
                reasoning_tokens=t["reasoning_tokens"] or 0,
                cost_usd=min(t["cost"], MAX_RUN_COST) if t["cost"] is not None else None,
                unpriced_calls=t["unpriced"],
                models_used=models[trace_id],
                session_id=((root and root["session_id"]) or ctx["session"])[:200],
                user_id=((root and root["user_id"]) or ctx["user"])[:200],
                tags=(root and root["tags"]) or ctx["tags"],
                last_seen_at=now,
            )
        )
    return runs


def mark_incomplete_runs(now: datetime) -> int:
    """A run whose root never arrived is kept and shown as incomplete once it has been quiet long enough."""
    cutoff = now - timedelta(seconds=settings.SAGATRACE_INCOMPLETE_AFTER_SECONDS)
    return Run.objects.filter(status=Run.IN_PROGRESS, last_seen_at__lt=cutoff).update(status=Run.INCOMPLETE)
