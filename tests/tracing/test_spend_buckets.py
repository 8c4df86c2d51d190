"""SpendBuckets are maintained at index time from real OTLP posts, and replays change nothing."""
from decimal import Decimal

import pytest
from django.db.models import Sum

from tests.diff_spend_builders import agent_run, send  # noqa: F401 (send is a fixture)
from tests.otlp_builders import span
from tracing.models import Run, SpendBucket, SpendHour, SpendRun, Step
from tracing.spend_models import SUMMED
from tracing.spend import ANSWER, from_units

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
    llm = spans[0]
    again = span(trace_id, llm.span_id.hex(), "chat gpt-4o-mini", parent=llm.parent_span_id.hex(), start_ms=10,
                 dur_ms=900, kind=3, attrs={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 1000,
                                            "gen_ai.usage.output_tokens": 100})
    send([again])  # ends later: the stored copy is replaced
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


@pytest.mark.pg_only  # SQLite has a single writer: nothing runs concurrently there
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_on_the_same_hour_keep_the_hourly_cells_exact(project):
    """Two transactions index different runs in the same hour at once: the per-hour lock makes
    the second recompute its cells after the first commits, so neither run's spend is lost."""
    import threading

    from django.db import connection, transaction

    from ingest.otlp import decode
    from tests.otlp_builders import request
    from tracing.indexer import index_spans

    assert connection.vendor == "postgresql", "run this test on the PostgreSQL pass"
    batches = [decode(request(agent_run(tools=("search",))[1]), "protobuf").spans for _ in range(6)]
    barrier, errors = threading.Barrier(len(batches)), []

    def index(spans):
        try:
            barrier.wait()
            with transaction.atomic():
                index_spans(project.id, spans)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=index, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert hours_match_buckets()
    assert SpendHour.objects.get(dimension="totals").runs == 6
