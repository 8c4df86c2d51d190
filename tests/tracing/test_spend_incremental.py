"""A run that only gains steps has its spend rows brought up to date from the new steps alone
(tracing.spend.add_new_steps). Whatever the run and however its spans are split into batches and
ordered, the rows must be exactly those a rebuild from all its steps gives."""
import json
import random

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings, strategies as st

from ingest.otlp import decode
from tests.diff_spend_builders import llm_attrs, tool_call_reply
from tests.otlp_builders import new_span_id, new_trace_id, request, span
from tracing import spend
from tracing.indexer import index_spans
from tracing.models import Run, SpendBucket, SpendHour, SpendRun
from tracing.spend_models import SUMMED
from tests.tracing.test_spend_buckets import hours_match_buckets

pytestmark = pytest.mark.django_db
HOUR_MS = 3_600_000
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("ollama", "llama-local")]  # the last is unpriced


def spend_rows(trace_id):
    buckets = sorted(SpendBucket.objects.filter(trace_id=trace_id).values_list("hour", "dimension", "key", *SUMMED))
    runs = list(SpendRun.objects.filter(trace_id=trace_id).values_list(
        "started_at", "status", "user_id", "session_id", "cost_units", "unpriced_calls", "top_span_id",
        "top_step_units"))
    return buckets, runs


def random_run(rng: random.Random):
    """A root agent (user, session, tags), sub-agents, LLM calls requesting tools, tool spans,
    spread over a few hours; children carry an agent name now and then."""
    trace_id, root = new_trace_id(), new_span_id()
    parents, spans = [root], []
    for i in range(rng.randint(0, 2)):
        sub = new_span_id()
        spans.append(span(trace_id, sub, "invoke_agent sub", parent=root, start_ms=rng.randint(0, 3 * HOUR_MS),
                          attrs={"gen_ai.operation.name": "invoke_agent",
                                 "gen_ai.agent.name": rng.choice(["helper", "planner", "critic"])}))
        parents.append(sub)
    for i in range(rng.randint(1, 10)):
        parent, start = rng.choice(parents), rng.randint(0, 3 * HOUR_MS)
        if rng.random() < 0.6:
            provider, model = rng.choice(MODELS)
            tools = rng.sample(["search", "fetch", "search", "sql"], rng.randint(0, 3))
            attrs = llm_attrs(model, provider, rng.randint(100, 5000), rng.randint(1, 500),
                              cached=rng.choice([0, 0, 64]), reply=tool_call_reply(tools) if tools else None)
            if rng.random() < 0.2:
                attrs["gen_ai.agent.name"] = rng.choice(["helper", "planner"])
            if rng.random() < 0.1:
                attrs["gen_ai.usage.cost"] = "0.0123"
            spans.append(span(trace_id, new_span_id(), f"chat {model}", parent=parent, start_ms=start, kind=3,
                              attrs=attrs))
        else:
            name = rng.choice(["search", "fetch", "sql"])
            attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                     "gen_ai.tool.call.arguments": json.dumps({"q": name})}
            if rng.random() < 0.3:
                attrs["gen_ai.usage.cost"] = rng.choice(["0.01", "0.0123"])
            spans.append(span(trace_id, new_span_id(), f"execute_tool {name}", parent=parent, start_ms=start,
                              attrs=attrs))
    root_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}
    if rng.random() < 0.7:
        root_attrs |= {"user.id": "ana", "session.id": "s-1", "tag.tags": ["eu", "prod"]}
    spans.append(span(trace_id, root, "invoke_agent planner", start_ms=0, dur_ms=3 * HOUR_MS + 1000,
                      attrs=root_attrs))
    return trace_id, spans


def random_batches(items, rng, most=5):
    """The items shuffled and cut into 1 to most + 1 batches."""
    order = items[:]
    rng.shuffle(order)
    cuts = sorted(rng.sample(range(1, len(order)), min(len(order) - 1, rng.randint(0, most)))) if len(order) > 1 else []
    return [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)])]


def index_in_batches(project_id, spans, rng):
    for batch in random_batches(spans, rng):
        with transaction.atomic():
            index_spans(project_id, decode(request(batch), "protobuf").spans)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_spend_kept_up_batch_by_batch_equals_a_rebuild_from_all_steps(project, seed):
    rng = random.Random(seed)
    trace_id, spans = random_run(rng)
    index_in_batches(project.id, spans, rng)
    kept = spend_rows(trace_id)
    assert hours_match_buckets()
    with transaction.atomic():
        spend.recompute_buckets(project.id, [trace_id])
    assert spend_rows(trace_id) == kept
    assert hours_match_buckets()


def test_a_run_streaming_in_takes_the_incremental_path_and_ends_equal_to_a_rebuild(project, monkeypatch):
    """Children first in small batches, the root last: every batch only adds steps, the root's too
    (its children hang under it, and it carries the agent they carry)."""
    trace_id, root = new_trace_id(), new_span_id()
    children = [span(trace_id, new_span_id(), "chat gpt-4o", parent=root, start_ms=i * 700_000, kind=3,
                     attrs={**llm_attrs("gpt-4o", "openai", 1000 + i, 100, cached=64,
                                        reply=tool_call_reply(["search"] * (i % 3))), "gen_ai.agent.name": "planner"})
                for i in range(12)]
    root_span = span(trace_id, root, "invoke_agent planner", dur_ms=10 * HOUR_MS,
                     attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})
    done = []
    add_new_steps = spend.add_new_steps

    def spy(*args):
        result = add_new_steps(*args)
        done.append(result[0])
        return result

    monkeypatch.setattr(spend, "add_new_steps", spy)
    for i in range(0, 12, 3):
        with transaction.atomic():
            index_spans(project.id, decode(request(children[i:i + 3]), "protobuf").spans)
    assert done == [{trace_id}] * 3  # the first batch creates the run; the next three only add steps
    with transaction.atomic():
        index_spans(project.id, decode(request([root_span]), "protobuf").spans)
    assert done == [{trace_id}] * 4
    kept = spend_rows(trace_id)
    assert Run.objects.get(trace_id=trace_id).steps == 13 and hours_match_buckets()
    SpendBucket.objects.all().delete()
    SpendRun.objects.all().delete()
    SpendHour.objects.all().delete()
    with transaction.atomic():
        spend.recompute_buckets(project.id, [trace_id])
    assert spend_rows(trace_id) == kept and hours_match_buckets()


def test_a_run_whose_spend_rows_are_missing_is_rebuilt_when_it_gains_a_step(project):
    """The adding only adds to what is there: a run with no spend rows (lost, or never built) is
    rebuilt from all its steps instead, so it heals the next time it is indexed."""
    trace_id, root = new_trace_id(), new_span_id()
    calls = [span(trace_id, new_span_id(), "chat gpt-4o", parent=root, start_ms=i * 1000, kind=3,
                  attrs=llm_attrs("gpt-4o", "openai", 1000, 100)) for i in range(3)]
    root_span = span(trace_id, root, "invoke_agent planner", dur_ms=10_000,
                     attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})
    with transaction.atomic():
        index_spans(project.id, decode(request([root_span, *calls[:2]]), "protobuf").spans)
    SpendBucket.objects.filter(trace_id=trace_id).delete()
    SpendHour.objects.all().delete()
    with transaction.atomic():
        index_spans(project.id, decode(request(calls[2:]), "protobuf").spans)
    totals = SpendBucket.objects.get(trace_id=trace_id, dimension="totals")
    assert totals.llm_calls == 3 and totals.runs == 1
    assert hours_match_buckets()
