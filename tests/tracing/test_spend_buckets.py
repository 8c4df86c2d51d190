"""SpendBuckets are maintained at index time from real OTLP posts, and replays change nothing."""
from decimal import Decimal

import pytest
from django.db.models import Sum

from tests.diff_spend_builders import agent_run, post
from tests.otlp_builders import span
from tracing.models import Run, SpendBucket, Step
from tracing.spend import ANSWER, from_units

# on_commit must fire, as in production: batches are indexed after the intake transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


def snapshot():
    return sorted(SpendBucket.objects.values_list(
        "trace_id", "hour", "dimension", "key", "cost_units", "llm_calls", "unpriced_calls", "unpriced_tokens",
        "tool_calls", "input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens", "cache_savings_units",
        "output_cost_units", "reasoning_cost_units", "runs", "top_span_id", "top_step_units"))


def cost_by(dimension, trace_id=None):
    qs = SpendBucket.objects.filter(dimension=dimension)
    if trace_id:
        qs = qs.filter(trace_id=trace_id)
    return {r["key"]: from_units(r["c"]) for r in qs.values("key").annotate(c=Sum("cost_units"))}


def test_posting_the_same_otlp_twice_gives_the_same_buckets(client, api_key):
    _, spans = agent_run(tools=("search", "fetch", "search"), cached=400, tool_cost="0.01", tags=("eu",))
    post(client, api_key, spans)
    first = snapshot()
    assert first
    post(client, api_key, spans)
    assert snapshot() == first


def test_children_first_then_root_gives_the_buckets_of_one_batch(client, api_key):
    trace_id, spans = agent_run(tools=("search",), user="ana", session="s-1")
    post(client, api_key, spans)
    together = snapshot()
    SpendBucket.objects.all().delete()
    Step.objects.all().delete()
    Run.objects.all().delete()
    post(client, api_key, spans[:-1])  # the root (agent, user, session) arrives last
    assert cost_by("user", trace_id) == {"": Decimal("0.0070000000")}
    post(client, api_key, spans[-1:])
    assert snapshot() == together
    assert set(cost_by("user", trace_id)) == {"ana"}


def test_totals_bucket_equals_the_run_and_tools_add_up_to_it(client, api_key):
    trace_id, spans = agent_run(tools=("search", "fetch", "search"), tool_cost="0.01")
    post(client, api_key, spans)
    run = Run.objects.get(trace_id=trace_id)
    # 2 × gpt-4o (1,000 in / 100 out = $0.0035) + 3 tool spans reporting $0.01 each.
    assert run.cost_usd == Decimal("0.037")
    assert cost_by("totals") == {"": run.cost_usd}
    tools = cost_by("tool")
    assert tools == {"search": Decimal("0.0223333334"), "fetch": Decimal("0.0111666666"), ANSWER: Decimal("0.0035")}
    assert sum(tools.values()) == run.cost_usd


def test_a_resent_span_moves_its_cost_to_the_new_key(client, api_key):
    trace_id, spans = agent_run(tools=())
    post(client, api_key, spans)
    assert set(cost_by("model")) == {"gpt-4o"}
    llm = spans[0]
    again = span(trace_id, llm.span_id.hex(), "chat gpt-4o-mini", parent=llm.parent_span_id.hex(), start_ms=10,
                 dur_ms=900, kind=3, attrs={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 1000,
                                            "gen_ai.usage.output_tokens": 100})
    post(client, api_key, [again])  # ends later: the stored copy is replaced
    assert set(cost_by("model")) == {"gpt-4o", "gpt-4o-mini"}
    assert sum(cost_by("model").values()) == Run.objects.get(trace_id=trace_id).cost_usd


def test_unpriced_usage_stays_separate(client, api_key):
    _, spans = agent_run(model="house-model-7b", provider="acme", tools=("search",))
    post(client, api_key, spans)
    row = SpendBucket.objects.get(dimension="totals")
    assert row.cost_units == 0 and row.unpriced_calls == 2 and row.unpriced_tokens == 2 * 1100
    assert Run.objects.get().cost_usd is None


def test_each_project_keeps_its_own_buckets(client, api_key, project):
    from tracing.models import ApiKey, Project

    other = Project.objects.create(name="Other", slug="other")
    _, other_key = ApiKey.issue(other)
    post(client, api_key, agent_run()[1])
    post(client, other_key, agent_run(model="o3-mini")[1])
    assert set(SpendBucket.objects.filter(project=project, dimension="model").values_list("key", flat=True)) == {"gpt-4o"}
    assert set(SpendBucket.objects.filter(project=other, dimension="model").values_list("key", flat=True)) == {"o3-mini"}
