"""SpendBuckets are maintained at index time from real OTLP posts, and replays change nothing.
SpendHour cells are kept equal to their summed SpendBuckets by adding differences: through
replays, re-sent spans, runs changing hours, retention and concurrent workers."""
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.diff_spend_builders import agent_run, send  # noqa: F401 (send is a fixture)
from tests.otlp_builders import T0, new_span_id, new_trace_id, span
from tracing.models import Run, SpendBucket, SpendHour, SpendRun, Step
from tracing.spend_models import SUMMED
from tracing.spend import ANSWER, from_units, hour_of, to_units

H0 = hour_of(T0)  # T0 is 53 minutes into this hour: spans up to start_ms=400_000 stay in it
HOUR_MS = 3_600_000

pytestmark = pytest.mark.django_db


def snapshot():
    return sorted(SpendBucket.objects.values_list(
        "trace_id", "hour", "dimension", "key", "cost_units", "llm_calls", "unpriced_calls", "unpriced_tokens",
        "tool_calls", "input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens", "cache_savings_units",
        "output_cost_units", "reasoning_cost_units", "runs")) + sorted(SpendRun.objects.values_list(
        "trace_id", "started_at", "status", "user_id", "session_id", "cost_units", "unpriced_calls", "top_span_id",
        "top_step_units"))


def hours_match_buckets():
    """SpendHour holds exactly the per-run SpendBuckets summed per (hour, dimension, key)."""
    fields = [f for f in SUMMED]
    expected = {(r["hour"], r["dimension"], r["key"]): [r[f] for f in fields] for r in SpendBucket.objects.values(
        "hour", "dimension", "key").annotate(**{f: Sum(f) for f in fields})}
    stored = {(r.hour, r.dimension, r.key): [getattr(r, f) for f in fields] for r in SpendHour.objects.all()}
    return stored == expected and bool(stored)


def cost_by(dimension, trace_id=None):
    qs = SpendBucket.objects.filter(dimension=dimension)
    if trace_id:
        qs = qs.filter(trace_id=trace_id)
    return {r["key"]: from_units(r["c"]) for r in qs.values("key").annotate(c=Sum("cost_units"))}


def test_posting_the_same_otlp_twice_gives_the_same_buckets(send):
    _, spans = agent_run(tools=("search", "fetch", "search"), cached=400, tool_cost="0.01", tags=("eu",))
    send(spans)
    first = snapshot()
    assert first
    send(spans)
    assert snapshot() == first
    assert hours_match_buckets()


def test_children_first_then_root_gives_the_buckets_of_one_batch(send):
    trace_id, spans = agent_run(tools=("search",), user="ana", session="s-1")
    send(spans)
    together = snapshot()
    for model in (SpendBucket, SpendHour, SpendRun, Step, Run):
        model.objects.all().delete()
    send(spans[:-1])  # the root (agent, user, session) arrives last
    assert cost_by("user", trace_id) == {"": Decimal("0.0070000000")}
    send(spans[-1:])
    assert snapshot() == together
    assert hours_match_buckets()
    assert set(cost_by("user", trace_id)) == {"ana"}


def test_totals_bucket_equals_the_run_and_tools_add_up_to_it(send):
    trace_id, spans = agent_run(tools=("search", "fetch", "search"), tool_cost="0.01")
    send(spans)
    run = Run.objects.get(trace_id=trace_id)
    # 2 × gpt-4o (1,000 in / 100 out = $0.0035) + 3 tool spans reporting $0.01 each.
    assert run.cost_usd == Decimal("0.037")
    assert cost_by("totals") == {"": run.cost_usd}
    tools = cost_by("tool")
    assert tools == {"search": Decimal("0.0223333334"), "fetch": Decimal("0.0111666666"), ANSWER: Decimal("0.0035")}
    assert sum(tools.values()) == run.cost_usd


def test_a_resent_span_moves_its_cost_to_the_new_key(send):
    trace_id, spans = agent_run(tools=())
    send(spans)
    assert set(cost_by("model")) == {"gpt-4o"}
    send([llm_again(trace_id, spans[0], "gpt-4o-mini")])
    assert set(cost_by("model")) == {"gpt-4o", "gpt-4o-mini"}
    assert hours_match_buckets()
    assert sum(cost_by("model").values()) == Run.objects.get(trace_id=trace_id).cost_usd


def test_unpriced_usage_stays_separate(send):
    _, spans = agent_run(model="house-model-7b", provider="acme", tools=("search",))
    send(spans)
    row = SpendBucket.objects.get(dimension="totals")
    assert row.cost_units == 0 and row.unpriced_calls == 2 and row.unpriced_tokens == 2 * 1100
    assert Run.objects.get().cost_usd is None
    assert SpendRun.objects.get().cost_units is None and SpendRun.objects.get().unpriced_calls == 2


def test_each_project_keeps_its_own_buckets(project, send):
    from tracing.models import ApiKey, Project

    other = Project.objects.create(name="Other", slug="other")
    _, other_key = ApiKey.issue(other)
    send(agent_run()[1])
    send(agent_run(model="o3-mini")[1], other_key)
    assert set(SpendBucket.objects.filter(project=project, dimension="model").values_list("key", flat=True)) == {"gpt-4o"}
    assert set(SpendBucket.objects.filter(project=other, dimension="model").values_list("key", flat=True)) == {"o3-mini"}


def test_rebuild_spend_recreates_the_buckets_indexing_made(send):
    from django.core.management import call_command

    send(agent_run(tools=("search", "fetch"), tags=("eu",))[1])
    before = snapshot()
    for model in (SpendBucket, SpendHour, SpendRun):
        model.objects.all().delete()
    call_command("rebuild_spend", stdout=None)
    assert snapshot() == before and hours_match_buckets()


def test_cache_savings_are_priced_once_at_index_time_and_steps_indexed_before_are_priced_on_recompute(send):
    from tracing import pricing
    from tracing.indexer import recompute_runs

    trace_id, spans = agent_run(tools=("search",), cached=400)
    send(spans)
    calls = Step.objects.filter(trace_id=trace_id, kind="llm")
    assert [c.cache_read_tokens for c in calls] == [400, 400]
    for llm in calls:  # gpt-4o: 400 cached tokens at $1.25/M instead of $2.50/M
        assert llm.cache_savings_usd == Decimal("0.0005") == pricing.cache_savings(
            provider=llm.provider, model=llm.model, input_tokens=llm.input_tokens, cache_read_tokens=400,
            at=hour_of(llm.start_ns) + timedelta(minutes=1))
    assert sum(SpendBucket.objects.filter(dimension="totals").values_list("cache_savings_units", flat=True)) == \
        to_units(Decimal("0.001"))
    before = snapshot()
    calls.update(cache_savings_usd=None)  # steps indexed before the column existed
    with transaction.atomic():
        recompute_runs(llm.project_id, [trace_id])
    assert snapshot() == before


# --- SpendHour by difference ------------------------------------------------------------------


def hour_cells():
    return {(r.hour, r.dimension, r.key): [getattr(r, f) for f in SUMMED] for r in SpendHour.objects.all()}


def cell(dimension, key="", hour=H0):
    """One SpendHour cell as {column: value}, or None when there is none."""
    return SpendHour.objects.filter(hour=hour, dimension=dimension, key=key).values(*SUMMED).first()


def shifted(spans, ms):
    """The same spans (same ids) `ms` later: they end later, so they replace the stored copies."""
    out = []
    for s in spans:
        moved = Span()
        moved.CopyFrom(s)
        moved.start_time_unix_nano += ms * 1_000_000
        moved.end_time_unix_nano += ms * 1_000_000
        out.append(moved)
    return out


def llm_again(trace_id, llm, model="gpt-4o", input_tokens=1000, start_ms=10):
    """The LLM span `llm` sent again with this model and usage; it ends later, so it replaces the stored one."""
    return span(trace_id, llm.span_id.hex(), f"chat {model}", parent=llm.parent_span_id.hex(), start_ms=start_ms,
                dur_ms=900, kind=3, attrs={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                           "gen_ai.request.model": model, "gen_ai.usage.input_tokens": input_tokens,
                                           "gen_ai.usage.output_tokens": 100})


def run_cost(trace_id):
    return Run.objects.get(trace_id=trace_id).cost_usd


def test_replaying_a_runs_batches_in_any_order_changes_no_hourly_cell(send):
    trace_id, spans = agent_run(tools=("search", "fetch"), user="ana", tags=("eu",))
    batches = [spans[:2], spans[2:-1], spans[-1:]]  # children first, the root last, as exporters send them
    send(agent_run(user="bo")[1])  # another run shares the hour's cells
    for batch in batches:
        send(batch)
    buckets, cells = snapshot(), hour_cells()
    assert hours_match_buckets()
    for batch in (batches[1], batches[2], batches[0], batches[1]):
        send(batch)
        assert snapshot() == buckets and hour_cells() == cells
    assert cell("totals")["runs"] == 2
    assert from_units(cell("totals")["cost_units"]) == run_cost(trace_id) + Run.objects.exclude(
        trace_id=trace_id).get().cost_usd


def test_a_root_arriving_last_moves_the_run_out_of_the_unset_keys(send):
    trace_id, spans = agent_run(user="ana", session="s-1", tags=("eu",))
    send(agent_run()[1])  # a run without user, session or tags keeps the "" cells
    send(spans[:-1])
    assert cell("user")["runs"] == 2 and cell("user", "ana") is None
    send(spans[-1:])
    assert cell("user")["runs"] == 1 and cell("user", "ana")["runs"] == 1
    assert cell("session")["llm_calls"] == 2 and cell("session", "s-1")["llm_calls"] == 2
    assert cell("tag")["runs"] == 1 and cell("tag", "eu")["runs"] == 1
    assert from_units(cell("user", "ana")["cost_units"]) == run_cost(trace_id)
    assert hours_match_buckets()


def test_a_resent_span_with_another_model_lowers_the_old_cell_and_raises_the_new(send):
    trace_id, spans = agent_run(tools=())  # two gpt-4o calls, $0.0035 each
    send(agent_run(tools=())[1])  # another run keeps gpt-4o in the hour
    send(spans)
    assert cell("model", "gpt-4o")["llm_calls"] == 4
    assert from_units(cell("model", "gpt-4o")["cost_units"]) == Decimal("0.014")
    send([llm_again(trace_id, spans[0], "gpt-4o-mini")])
    mini = Step.objects.get(trace_id=trace_id, span_id=spans[0].span_id.hex()).cost_usd
    old, new = cell("model", "gpt-4o"), cell("model", "gpt-4o-mini")
    assert old["llm_calls"] == 3 and old["input_tokens"] == 3000 and old["runs"] == 2
    assert from_units(old["cost_units"]) == Decimal("0.0105")
    assert new["llm_calls"] == 1 and new["input_tokens"] == 1000 and new["runs"] == 1
    assert from_units(new["cost_units"]) == mini
    assert cell("provider", "openai")["llm_calls"] == 4  # same provider: only its cost changed
    assert from_units(cell("totals")["cost_units"]) == Decimal("0.0105") + mini
    assert hours_match_buckets()


def test_a_resent_span_with_more_tokens_raises_the_cost_by_the_difference(send):
    trace_id, spans = agent_run(tools=())
    send(spans)
    before = cell("totals")
    send([llm_again(trace_id, spans[-2], input_tokens=3000, start_ms=420)])
    after = cell("totals")
    assert after["input_tokens"] - before["input_tokens"] == 2000
    assert after["cost_units"] - before["cost_units"] == to_units(Decimal("0.005"))  # 2,000 × $2.50/M
    assert after["llm_calls"] == before["llm_calls"] and after["runs"] == 1
    assert from_units(after["cost_units"]) == run_cost(trace_id)
    assert hours_match_buckets()


def test_a_resent_tool_span_with_another_tool_moves_its_call_and_cost(send):
    trace_id, spans = agent_run(tools=("search",), tool_cost="0.01")
    send(spans)
    assert cell("tool", "search")["tool_calls"] == 1
    tool = spans[1]
    again = span(trace_id, tool.span_id.hex(), "execute_tool lookup", parent=tool.parent_span_id.hex(),
                 start_ms=420, dur_ms=80, attrs={"gen_ai.operation.name": "execute_tool",
                                                 "gen_ai.tool.name": "lookup", "gen_ai.usage.cost": "0.01"})
    send([again])
    search, lookup = cell("tool", "search"), cell("tool", "lookup")
    assert search["tool_calls"] == 0 and search["llm_calls"] == 1  # the LLM call that requested it still counts
    assert from_units(search["cost_units"]) == Decimal("0.0035")
    assert lookup["tool_calls"] == 1 and from_units(lookup["cost_units"]) == Decimal("0.01")
    assert hours_match_buckets()


def test_a_run_moving_to_another_hour_leaves_the_old_cells_to_the_runs_still_there(send):
    stays, stay_spans = agent_run(user="bo")
    moves, move_spans = agent_run(user="ana", model="o3-mini")
    send(stay_spans)
    send(move_spans)
    later = H0 + timedelta(hours=2)
    send(shifted(move_spans, 2 * HOUR_MS))
    assert SpendBucket.objects.filter(trace_id=moves, hour=H0).count() == 0
    assert cell("totals")["runs"] == 1 and from_units(cell("totals")["cost_units"]) == run_cost(stays)
    assert cell("totals", hour=later)["runs"] == 1
    assert from_units(cell("totals", hour=later)["cost_units"]) == run_cost(moves)
    assert cell("user", "ana") is None and cell("model", "o3-mini") is None  # no run left there
    assert cell("user", "ana", hour=later)["runs"] == 1
    assert hours_match_buckets()


def test_a_cell_where_runs_spent_nothing_is_kept_while_a_run_is_there(project, send):
    """A step with no cost in the next hour gives that hour cells of zeros: as its buckets do. The
    spend page lists the same keys whether it reads the cells or, filtered, the buckets."""
    from tracing.spend_report import SpendFilters, breakdown

    def run_with_a_wait(user):
        trace_id, spans = agent_run(user=user)
        root = spans[-1].span_id.hex()
        return spans + [span(trace_id, new_span_id(), "wait", parent=root, start_ms=HOUR_MS // 2, dur_ms=10)]

    def wait_moved_back(spans):
        """The wait again, in the first hour: it ends later, so it replaces the stored one."""
        wait = spans[-1]
        return [span(wait.trace_id.hex(), wait.span_id.hex(), "wait", parent=wait.parent_span_id.hex(), start_ms=1000,
                     dur_ms=HOUR_MS)]

    next_hour = H0 + timedelta(hours=1)
    spans_a, spans_b = run_with_a_wait("ana"), run_with_a_wait("bo")
    send(spans_a)
    send(spans_b)
    assert cell("user", "ana", hour=next_hour) == dict.fromkeys(SUMMED, 0)
    send(wait_moved_back(spans_a))
    assert cell("user", "ana", hour=next_hour) is None
    assert cell("user", "bo", hour=next_hour) == dict.fromkeys(SUMMED, 0)
    assert cell("totals", hour=next_hour) == dict.fromkeys(SUMMED, 0)  # bo's bucket is still there
    assert hours_match_buckets()
    hour = SpendFilters(since=next_hour, until=next_hour + timedelta(hours=1))
    picked = SpendFilters(since=next_hour, until=next_hour + timedelta(hours=1), agent="helper")  # every run
    assert [r["key"] for r in breakdown(project, hour, "user")] == ["bo"]
    assert breakdown(project, hour, "user") == breakdown(project, picked, "user")
    send(wait_moved_back(spans_b))
    assert not SpendHour.objects.filter(hour=next_hour).exists()
    assert hours_match_buckets()


def test_many_runs_in_one_hour_add_up_batch_after_batch(send):
    runs = [agent_run(model=("gpt-4o", "gpt-4o-mini", "o3-mini")[i % 3], user=f"u{i % 4}", tools=("search",) * (i % 3),
                      start_ms=i * 1000) for i in range(24)]
    for i in range(0, len(runs), 6):
        send([s for _, spans in runs[i:i + 6] for s in spans[:-1]])  # children of six runs
        send([spans[-1] for _, spans in runs[i:i + 6]])  # then their roots
        assert hours_match_buckets()
    totals = cell("totals")
    assert totals["runs"] == 24
    assert totals["llm_calls"] == sum(r.llm_calls for r in Run.objects.all())
    assert from_units(totals["cost_units"]) == sum(r.cost_usd for r in Run.objects.all())
    assert sum(cell("user", f"u{i}")["runs"] for i in range(4)) == 24
    send([s for _, spans in runs[::5] for s in spans])  # some replayed
    assert cell("totals") == totals and hours_match_buckets()


def test_rebuild_spend_repairs_hourly_cells_that_drifted(project, send):
    from django.core.management import call_command

    send(agent_run(tools=("search",), user="ana")[1])
    send(agent_run(user="bo")[1])
    cells = hour_cells()
    SpendHour.objects.filter(dimension="totals").update(cost_units=1, runs=7)
    SpendHour.objects.filter(dimension="user", key="bo").delete()
    SpendHour.objects.create(project=project, hour=H0 - timedelta(hours=5),
                             dimension="model", key="ghost", cost_units=5)
    call_command("rebuild_spend", stdout=None)
    assert hour_cells() == cells and hours_match_buckets()


def test_retention_takes_a_purged_runs_spend_out_of_the_hours_it_keeps(project, send):
    """A run purged for starting before the cutoff, whose steps ran past it: the hours kept no
    longer count it; the run that stays is counted alone."""
    from django.utils import timezone

    from tests.diff_spend_builders import minutes_ago
    from tracing.retention import purge_project

    project.retention_days = 1
    project.save()
    now = timezone.now()
    old = new_trace_id()
    root = new_span_id()
    late = minutes_ago(23 * 60)
    late -= (late + (T0 // 1_000_000)) % HOUR_MS - 60_000  # a minute into its hour: the kept run stays in it
    old_spans = [
        span(old, new_span_id(), "chat gpt-4o", parent=root, start_ms=late, dur_ms=400, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}),
        span(old, root, "invoke_agent helper", start_ms=minutes_ago(25 * 60), dur_ms=2 * HOUR_MS + 1000,
             attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}),
    ]
    kept, kept_spans = agent_run(start_ms=late)
    send(old_spans)
    send(kept_spans)
    late_hour = hour_of(T0 + late * 1_000_000)
    assert cell("totals", hour=late_hour)["llm_calls"] == 3
    assert purge_project(project, now) == 1
    assert cell("totals", hour=late_hour)["llm_calls"] == 2
    assert from_units(cell("totals", hour=late_hour)["cost_units"]) == run_cost(kept)
    assert cell("totals", hour=late_hour)["runs"] == 1
    assert hours_match_buckets()


@pytest.mark.parametrize("hours_per_transaction", [24, 1])
def test_retention_keeps_the_spend_of_a_kept_run_in_hours_before_the_cutoff(project, send, monkeypatch,
                                                                            hours_per_transaction):
    """A run kept (its root started after the cutoff) with steps whose clock put them before the
    cutoff: the hours before the cutoff are dropped, but those steps' spend stays counted in their hours."""
    from functools import partial

    from django.utils import timezone

    from tests.diff_spend_builders import minutes_ago
    from tracing import retention
    from tracing.retention import purge_project

    monkeypatch.setattr(retention, "_purge_hourly_rollups", partial(
        retention._purge_hourly_rollups, hours_per_transaction=hours_per_transaction))
    project.retention_days = 1
    project.save()
    now = timezone.now()
    kept, root = new_trace_id(), new_span_id()
    skewed = minutes_ago(26 * 60)
    send([
        span(kept, new_span_id(), "chat gpt-4o", parent=root, start_ms=skewed, dur_ms=400, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}),
        span(kept, new_span_id(), "chat gpt-4o", parent=root, start_ms=skewed - 3 * HOUR_MS, dur_ms=400, kind=3,
             attrs={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 1}),
        span(kept, root, "invoke_agent helper", start_ms=minutes_ago(23 * 60), dur_ms=1000,
             attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}),
    ])
    purged, purged_spans = agent_run(start_ms=skewed)  # same hour as the skewed step, and purged
    send(purged_spans)
    skewed_hour = hour_of(T0 + skewed * 1_000_000)
    assert cell("totals", hour=skewed_hour)["llm_calls"] == 3
    assert purge_project(project, now) == 1
    assert not Run.objects.filter(trace_id=purged).exists() and Run.objects.filter(trace_id=kept).exists()
    assert cell("totals", hour=skewed_hour)["llm_calls"] == 1  # the kept run's step, alone
    assert cell("model", "gpt-4o", hour=skewed_hour)["input_tokens"] == 1000
    assert cell("model", "gpt-4o", hour=skewed_hour - timedelta(hours=3))["input_tokens"] == 7
    assert hours_match_buckets()


def concurrent(test):
    """Workers in transactions of their own: on PostgreSQL (SQLite has a single writer)."""
    return pytest.mark.pg_only(pytest.mark.django_db(transaction=True)(test))


def _index_in_thread(project_id, spans, before_commit=None, start_together=None):
    """A thread that runs index_spans in a transaction of its own, on its own connection, as a
    worker does; and its outcome {"error", "committed_at"}."""
    from ingest.otlp import decode
    from tests.otlp_builders import request
    from tracing.indexer import index_spans

    assert connection.vendor == "postgresql", "run this test on the PostgreSQL pass"
    records = decode(request(spans), "protobuf").spans
    out = {"error": None, "committed_at": None}

    def work():
        try:
            if start_together:
                start_together.wait()
            with transaction.atomic():
                index_spans(project_id, records)
                if before_commit:
                    before_commit()
            out["committed_at"] = time.monotonic()
        except Exception as exc:  # surfaced by the test
            out["error"] = exc
        finally:
            connection.close()

    return threading.Thread(target=work), out


def _index_now(project_id, spans):
    _all_at_once(project_id, [spans])


def _all_at_once(project_id, batches):
    """Each batch indexed by a worker of its own, all starting together; every one must commit."""
    barrier = threading.Barrier(len(batches))
    jobs = [_index_in_thread(project_id, spans, start_together=barrier) for spans in batches]
    for thread, _ in jobs:
        thread.start()
    for thread, _ in jobs:
        thread.join()
    assert [out["error"] for _, out in jobs] == [None] * len(batches)


def _one_then_another(project_id, first, second):
    """The first batch indexed and its transaction held open half a second; the second started
    meanwhile. Both must commit; returns their outcomes."""
    indexed = threading.Event()

    def hold():
        indexed.set()
        time.sleep(0.5)

    a, a_out = _index_in_thread(project_id, first, before_commit=hold)
    b, b_out = _index_in_thread(project_id, second)
    a.start()
    assert indexed.wait(10)
    b.start()
    a.join()
    b.join()
    assert a_out["error"] is None and b_out["error"] is None
    return a_out, b_out


@concurrent
def test_concurrent_workers_on_the_same_hour_keep_the_hourly_cells_exact(project):
    """Transactions index different runs in the same hour at once, all inserting the same new
    cells: each adds its amounts to the cells (the unique index makes the later ones update the
    row the first inserted), so no run's spend is lost and no transaction fails."""
    _all_at_once(project.id, [agent_run(tools=("search",))[1] for _ in range(6)])
    assert hours_match_buckets()
    assert SpendHour.objects.get(dimension="totals").runs == 6


@concurrent
def test_a_worker_changing_cells_another_holds_waits_and_adds_its_difference_after(project):
    """One worker moves runs out of the "" user and session cells and adds a run to the hour; a
    second, at the same time, re-sends a run into another model and adds its own: the second
    waits for the first's row locks, then adds to what it committed."""
    first_runs = [agent_run(user=f"u{i}", session=f"s{i}") for i in range(3)]
    moved_id, moved_spans = agent_run(tools=())
    _index_now(project.id, [s for _, spans in first_runs for s in spans[:-1]] + moved_spans)
    assert cell("user")["runs"] == 4

    a_out, b_out = _one_then_another(
        project.id, [spans[-1] for _, spans in first_runs] + agent_run(user="u9")[1],
        [llm_again(moved_id, moved_spans[0], "o3-mini")] + agent_run()[1])
    assert b_out["committed_at"] > a_out["committed_at"]
    assert hours_match_buckets()
    assert cell("totals")["runs"] == 6
    assert cell("user")["runs"] == 2 and [cell("user", f"u{i}")["runs"] for i in (0, 1, 2, 9)] == [1, 1, 1, 1]
    assert cell("model", "o3-mini")["llm_calls"] == 1


@concurrent
def test_a_cell_one_worker_empties_while_another_enters_it_is_kept(project):
    """The first worker moves the only run of user "bo" to "ana" and, finding no bucket left,
    drops the cell; the second adds a new run of "bo" at the same time: the cell ends with it."""
    trace_id, spans = agent_run(user="bo")
    _index_now(project.id, spans)
    root = spans[-1]
    renamed = span(trace_id, root.span_id.hex(), root.name, start_ms=0, dur_ms=5000,
                   attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper", "user.id": "ana"})
    newcomer, newcomer_spans = agent_run(user="bo")
    _one_then_another(project.id, [renamed], newcomer_spans)
    assert cell("user", "bo")["runs"] == 1
    assert from_units(cell("user", "bo")["cost_units"]) == run_cost(newcomer)
    assert cell("user", "ana")["runs"] == 1
    assert hours_match_buckets()


@concurrent
def test_many_concurrent_workers_changing_the_same_hour_never_deadlock(project):
    """Workers at once, on runs of their own, in one hour: each sends a root (its run leaves the
    "" cells), re-sends a call with another model and adds a run. Every transaction commits
    (none is chosen as a deadlock victim) and the cells stay exact."""
    workers = 8
    rootless = [agent_run(user=f"u{i % 3}", tags=(f"t{i % 2}",)) for i in range(workers)]
    remodelled = [agent_run(tools=(), model="o3-mini") for _ in range(workers)]
    _index_now(project.id, [s for _, spans in rootless for s in spans[:-1]] + [s for _, r in remodelled for s in r])
    assert cell("user")["runs"] == 2 * workers

    _all_at_once(project.id, [
        [rootless[i][1][-1], llm_again(remodelled[i][0], remodelled[i][1][0], ("gpt-4o", "gpt-4o-mini")[i % 2], 10),
         *agent_run(user=f"u{i % 3}")[1]] for i in range(workers)])
    assert hours_match_buckets()
    assert cell("totals")["runs"] == 3 * workers
    assert cell("user")["runs"] == workers  # the remodelled runs have no user; the others all have theirs now
    assert cell("model", "o3-mini")["llm_calls"] == workers


@concurrent
def test_workers_each_adding_to_one_run_and_rebuilding_another_never_deadlock(project, monkeypatch):
    """A worker's transaction brings some runs up to date by adding their new steps
    (tracing.spend.add_new_steps) and rebuilds others; its SpendHour cells change in one
    statement, in one order. Two workers whose runs cross models (one adds to a gpt-4o run and
    rebuilds a gpt-4o-mini one, the other the other way round), both past the adding at once:
    they queue on the cells instead of deadlocking (each cell changed by a statement of its own
    would have them wait on each other)."""
    from tests.diff_spend_builders import llm_attrs
    from tracing import spend

    models = ("gpt-4o", "gpt-4o-mini")
    continuing = [agent_run(tools=(), model=model) for model in models]
    _index_now(project.id, [s for _, spans in continuing for s in spans])
    both_added, add_new_steps = threading.Barrier(2, timeout=10), spend.add_new_steps

    def add_then_wait(*args):
        result = add_new_steps(*args)
        both_added.wait()
        return result

    monkeypatch.setattr(spend, "add_new_steps", add_then_wait)
    _all_at_once(project.id, [
        [span(trace_id, new_span_id(), f"chat {models[i]}", parent=spans[-1].span_id.hex(), start_ms=2000, kind=3,
              attrs=llm_attrs(models[i], "openai", 1000, 100)),  # a step added to the run
         *agent_run(tools=(), model=models[1 - i])[1]]  # a new run: rebuilt
        for i, (trace_id, spans) in enumerate(continuing)])
    assert hours_match_buckets()
    assert Run.objects.filter(trace_id__in=[t for t, _ in continuing], steps=4).count() == 2
