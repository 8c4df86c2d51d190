"""A run that only gains steps has its Run row, its duplicate marks and its spend rows brought up to
date from the new steps alone (tracing.run_growth, tracing.dedupe.pairing, tracing.spend.add_new_steps).
However a run is built and its spans split into batches and ordered, every row must be exactly what
a rebuild from all its steps gives."""
import dataclasses
import json
import os
import random

import orjson
import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.tracing.test_spend_buckets import hours_match_buckets
from tests.tracing.test_spend_incremental import random_batches, spend_rows
from tracing import dedupe, indexer, run_growth, spend
from tracing.dedupe import NATIVE_SCOPES
from tracing.indexer import index_spans, recompute_runs
from tracing.models import Run, SpendBucket, Step
from tracing.spans import SpanRecord
from tracing.step_keys import by_trace

pytestmark = pytest.mark.django_db
T0 = 1_760_000_000_000_000_000
SEC = 1_000_000_000
NATIVE = sorted(NATIVE_SCOPES)[0]
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"), ("ollama", "llama-local")]
RUN_FIELDS = [f.attname for f in Run._meta.concrete_fields if f.attname not in ("id", "last_seen_at")]


def run_row(trace_id):
    return Run.objects.filter(trace_id=trace_id).values(*RUN_FIELDS).get()


def marks(trace_id):
    return dict(Step.objects.filter(trace_id=trace_id).values_list("span_id", "duplicate_of"))


def random_run(rng: random.Random) -> tuple[str, list[SpanRecord]]:
    """A run as agents send them: a root (now and then missing, with or without user, session and
    tags; now and then a second parentless span), sub-agents, plain spans between them and their calls, LLM calls of a few models (some repeated by a provider SDK's own span, beside
    or under them), tool calls, errors; children carry an agent, user, session or tags now and then;
    starts collide now and then."""
    trace_id = os.urandom(16).hex()  # not from the seed: a replayed example must not find its run stored
    ids = iter(f"{rng.getrandbits(64):016x}" for _ in range(200))
    root = next(ids)
    spans, parents, llms = [], [root], []

    def record(span_id, parent, name, start, dur, attrs, scope="tests", error=False):
        spans.append(SpanRecord(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name, kind=1,
                                start_ns=T0 + start, end_ns=T0 + start + dur, attributes=attrs, scope_name=scope,
                                status_code=2 if error else 0))

    def when():
        return rng.choice([rng.randrange(0, 3 * 3600 * SEC), rng.randrange(0, 5) * SEC])  # collisions now and then

    def context():
        out = {}
        if rng.random() < 0.15:
            out["gen_ai.agent.name"] = rng.choice(["helper", "planner", "critic"])
        if rng.random() < 0.1:
            out["session.id"] = rng.choice(["s-1", "s-2"])
        if rng.random() < 0.1:
            out["user.id"] = rng.choice(["ana", "bo"])
        if rng.random() < 0.1:
            out["tag.tags"] = rng.choice([["eu"], ["eu", "prod"]])
        return out

    for _ in range(rng.randint(0, 2)):
        sub = next(ids)
        record(sub, rng.choice(parents), "invoke_agent sub", when(), rng.randrange(1, 600) * SEC,
               {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": rng.choice(["helper", "critic"])})
        parents.append(sub)
    if rng.random() < 0.15:  # a second parentless span (its parent never sent), with calls under it now and then
        orphan = next(ids)
        record(orphan, None, "invoke_agent orphan", when(), rng.randrange(1, 600) * SEC,
               {"gen_ai.operation.name": "invoke_agent", **({"gen_ai.agent.name": "critic"} if rng.random() < 0.7 else {})})
        parents.append(orphan)
    for _ in range(rng.randint(0, 2)):  # plain spans between an agent and its calls
        chain = next(ids)
        record(chain, rng.choice(parents), "chain", when(), rng.randrange(1, 600) * SEC, {})
        parents.append(chain)
    for i in range(rng.randint(1, 14)):
        parent, start, dur = rng.choice(parents), when(), rng.randrange(1, 30) * SEC
        roll = rng.random()
        if roll < 0.55:
            provider, model = rng.choice(MODELS)
            attrs = {"gen_ai.operation.name": rng.choice(["chat", "chat", "embeddings"]), "gen_ai.provider.name": provider,
                     "gen_ai.request.model": model, "gen_ai.usage.input_tokens": rng.randint(1, 5000),
                     "gen_ai.usage.output_tokens": rng.randint(0, 500), "gen_ai.response.id": f"r{i}",
                     **context()}
            if rng.random() < 0.3:
                attrs["gen_ai.usage.cache_read.input_tokens"] = 64
            if rng.random() < 0.1:
                attrs["gen_ai.usage.cost"] = rng.choice(["0.0123", "0.5"])
            span_id = next(ids)
            record(span_id, parent, f"chat {model}", start, dur, attrs, error=rng.random() < 0.1)
            llms.append((span_id, parent, start, dur, attrs))
        elif roll < 0.7 and llms:  # a provider SDK's own span of a call already recorded
            of, of_parent, start, dur, attrs = rng.choice(llms)
            repeat = {k: v for k, v in attrs.items() if rng.random() < 0.8 or k == "gen_ai.operation.name"}
            record(next(ids), rng.choice([of, of_parent]), "anthropic.messages.create", start + SEC // 10,
                   max(dur - SEC // 5, 1), repeat, scope=NATIVE)
        else:
            attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": rng.choice(["search", "sql"]),
                     **context()}
            if rng.random() < 0.2:
                attrs["gen_ai.usage.cost"] = "0.01"
            record(next(ids), parent, "execute_tool", start, dur, attrs, error=rng.random() < 0.1)
    if rng.random() < 0.85:
        attrs = {"gen_ai.operation.name": "invoke_agent"}
        if rng.random() < 0.7:
            attrs["gen_ai.agent.name"] = "planner"
        if rng.random() < 0.5:
            attrs |= {"user.id": "ana", "session.id": "s-1", "tag.tags": ["eu", "prod"]}
        record(root, None, "invoke_agent planner", 0, 4 * 3600 * SEC, attrs, error=rng.random() < 0.1)
    return trace_id, spans


def index_in_batches(project_id, spans, rng):
    for batch in random_batches(spans, rng, most=6):
        with transaction.atomic():
            index_spans(project_id, batch)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_a_run_kept_up_batch_by_batch_equals_a_rebuild_from_all_its_steps(project, seed):
    rng = random.Random(seed)
    trace_id, spans = random_run(rng)
    index_in_batches(project.id, spans, rng)
    kept = run_row(trace_id), marks(trace_id), spend_rows(trace_id)
    Step.objects.filter(trace_id=trace_id).update(duplicate_of="")
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])  # no step named as added: everything rebuilt
    assert (run_row(trace_id), marks(trace_id), spend_rows(trace_id)) == kept
    assert hours_match_buckets()


def stream(project, trace_id, spans, size):
    for i in range(0, len(spans), size):
        with transaction.atomic():
            index_spans(project.id, spans[i:i + size])


def streaming_run(n=12, root_agent="planner", trace_id="ab" * 16):
    """A root agent and n LLM calls under it, a second apart."""
    root = "a0" * 8
    children = [SpanRecord(trace_id=trace_id, span_id=f"{i + 1:016x}", parent_span_id=root, name="chat gpt-4o", kind=3,
                           start_ns=T0 + i * SEC, end_ns=T0 + i * SEC + SEC // 2,
                           attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                       "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000 + i,
                                       "gen_ai.usage.output_tokens": 100})
                for i in range(n)]
    attrs = {"gen_ai.operation.name": "invoke_agent", **({"gen_ai.agent.name": root_agent} if root_agent else {})}
    root_span = SpanRecord(trace_id=trace_id, span_id=root, parent_span_id=None, name="invoke_agent", kind=1,
                           start_ns=T0 - SEC, end_ns=T0 + n * SEC, attributes=attrs)
    return trace_id, children, root_span


@pytest.fixture
def spend_added(monkeypatch):
    """The traces each index_spans brought the spend rows of up to date from their new steps alone."""
    calls, add_new_steps = [], spend.add_new_steps

    def spy(*args):
        result = add_new_steps(*args)
        calls.append(result[0])
        return result

    monkeypatch.setattr(spend, "add_new_steps", spy)
    return calls


@pytest.fixture
def grown(monkeypatch):
    """The traces each index_spans brought up to date from its new steps alone."""
    calls, grow = [], run_growth.grow

    def spy(*args):
        result = grow(*args)
        calls.append(set(result))
        return result

    monkeypatch.setattr(run_growth, "grow", spy)
    return calls


@pytest.mark.pg_only
def test_a_run_streaming_in_is_added_to_batch_by_batch_without_reading_its_steps(project, grown, monkeypatch):
    trace_id, children, root_span = streaming_run(12)
    stream(project, trace_id, [root_span], 1)
    rebuilt, paired = [], []
    rebuild, candidate_pairs = indexer.rebuild_runs, dedupe.candidate_pairs
    monkeypatch.setattr(indexer, "rebuild_runs", lambda p, traces, now: rebuilt.append(set(traces)) or rebuild(p, traces, now))
    monkeypatch.setattr(dedupe, "candidate_pairs", lambda rows: paired.append(len(rows)) or candidate_pairs(rows))
    stream(project, trace_id, children, 3)
    assert grown[1:] == [{trace_id}] * 4 and rebuilt == []  # the root first: every later batch only adds
    assert max(paired) == 3  # the duplicate check looked at the new calls, never at the run's stored ones
    assert run_row(trace_id)["steps"] == 13 and run_row(trace_id)["llm_calls"] == 12
    kept = run_row(trace_id), spend_rows(trace_id)
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])
    assert (run_row(trace_id), spend_rows(trace_id)) == kept


def with_agent(span, name):
    return dataclasses.replace(span, attributes={**span.attributes, "gen_ai.agent.name": name})


@pytest.mark.pg_only
def test_the_root_arriving_last_is_added_like_any_step(project, grown, queries, spend_added):
    """Its children first, the root last (it ends last): the root's batch is added too, without
    reading the run's steps. The run takes the root's name, status, start and agent, and its spend
    moves to the root's agent, as a rebuild gives."""
    trace_id, children, root_span = streaming_run(6)
    root_span = dataclasses.replace(root_span, status_code=2, attributes={
        **root_span.attributes, "user.id": "ana", "session.id": "s-1", "tag.tags": ["eu", "prod"]})
    stream(project, trace_id, children, 2)
    assert grown == [set(), {trace_id}, {trace_id}]  # the first batch creates the run
    run = Run.objects.get(trace_id=trace_id)
    assert run.status == Run.IN_PROGRESS and run.ended_at is None and run.start_ns == T0
    assert set(SpendBucket.objects.filter(dimension__in=["agent", "user"]).values_list("dimension", "key")) == {
        ("agent", ""), ("user", "")}
    queries.clear()
    stream(project, trace_id, [root_span], 1)
    assert grown[3] == {trace_id} and spend_added[-1] == {trace_id} and _step_reads(queries) == []
    run = Run.objects.get(trace_id=trace_id)
    assert (run.status, run.agent, run.user_id, run.session_id, run.tags) == (Run.ERROR, "planner", "ana", "s-1",
                                                                             ["eu", "prod"])
    assert run.start_ns == T0 - SEC and run.duration_ms == 7000.0 and run.steps == 7
    assert set(SpendBucket.objects.exclude(dimension__in=["model", "provider", "tool", "totals"]).values_list(
        "dimension", "key")) == {("agent", "planner"), ("user", "ana"), ("session", "s-1"), ("tag", "eu"), ("tag", "prod")}
    kept = run_row(trace_id), spend_rows(trace_id)
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])
    assert (run_row(trace_id), spend_rows(trace_id)) == kept and hours_match_buckets()


@pytest.mark.pg_only
@pytest.mark.parametrize("case", ["agent from a child", "second root", "a new step over stored ones",
                                  "a second root over stored ones"])
def test_a_root_arriving_when_the_rows_cannot_tell_is_rebuilt(project, grown, spend_added, case):
    """The root's agent replaces the run's on the steps that fell back to it, which the rows tell
    only when the run had none; a second root may be the run's root instead; a stored step hanging
    under a new one that is not the root may change agent: these runs' rows are rebuilt, and equal
    a rebuild from all their steps."""
    trace_id, children, root_span = streaming_run(4)
    first, later = children[:3], [root_span, children[3]]
    if case == "agent from a child":
        first[0] = with_agent(children[0], "critic")  # the run's agent, until the root names its own
    elif case == "second root":
        later.append(dataclasses.replace(root_span, span_id="c0" * 8, start_ns=root_span.start_ns + 1))
    elif case == "a new step over stored ones":  # the calls hang under a sub-agent's span, which arrives with the root
        middle = SpanRecord(trace_id=trace_id, span_id="d0" * 8, parent_span_id=root_span.span_id, name="sub",
                            kind=1, start_ns=T0, end_ns=T0 + 4 * SEC, attributes={"gen_ai.agent.name": "helper"})
        children = [dataclasses.replace(c, parent_span_id=middle.span_id) for c in children]
        first, later = children[:3], [root_span, middle, children[3]]
    else:  # the root first; a call hangs under a span of another agent whose parent never comes
        orphan = SpanRecord(trace_id=trace_id, span_id="e0" * 8, parent_span_id=None, name="other", kind=1,
                            start_ns=T0, end_ns=T0 + 4 * SEC, attributes={"gen_ai.agent.name": "critic"})
        first = [root_span, *children[:2], dataclasses.replace(children[2], parent_span_id=orphan.span_id)]
        later = [orphan, children[3]]
    stream(project, trace_id, first, len(first))
    stream(project, trace_id, later, len(later))
    kept = run_row(trace_id), spend_rows(trace_id)
    assert grown[1] == (set() if "second root" in case else {trace_id}) and kept[0]["root_span_id"] == root_span.span_id
    assert not spend_added or spend_added[-1] == set()  # the spend rows: rebuilt
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])
    assert (run_row(trace_id), spend_rows(trace_id)) == kept and hours_match_buckets()
    agents = set(SpendBucket.objects.filter(dimension="agent").values_list("key", flat=True))
    assert agents == {"agent from a child": {"critic", "planner"}, "second root": {"planner"},
                      "a new step over stored ones": {"helper", "planner"},
                      "a second root over stored ones": {"critic", "planner"}}[case]


@pytest.mark.pg_only
def test_a_child_naming_another_agent_rebuilds_unless_the_root_names_its_own(project, grown):
    for root_agent, trace_id, expect_grown in (("planner", "ab" * 16, True), ("", "cd" * 16, False)):
        grown.clear()
        trace_id, children, root_span = streaming_run(4, root_agent=root_agent, trace_id=trace_id)
        stream(project, trace_id, [root_span, children[0]], 2)
        later = dataclasses.replace(children[1], attributes={**children[1].attributes, "gen_ai.agent.name": "helper"})
        stream(project, trace_id, [later], 1)
        assert (grown[1] == {trace_id}) is expect_grown
        assert Run.objects.get(trace_id=trace_id).agent == (root_agent or "helper")


@pytest.mark.pg_only
def test_a_run_stored_before_its_start_and_end_were_kept_is_rebuilt_then_added_to(project, grown):
    trace_id, children, root_span = streaming_run(4)
    stream(project, trace_id, [root_span, *children[:2]], 3)
    Run.objects.filter(trace_id=trace_id).update(start_ns=None, end_ns=None)
    stream(project, trace_id, children[2:3], 1)
    stream(project, trace_id, children[3:], 1)
    assert grown[1:] == [set(), {trace_id}]
    assert Run.objects.filter(trace_id=trace_id, start_ns=T0 - SEC, end_ns=T0 + 4 * SEC, steps=5).exists()


def test_a_duplicate_arriving_later_is_still_marked_and_left_out(project):
    """The pairing check finds a new SDK span beside a stored call: the trace is marked again."""
    trace_id, children, root_span = streaming_run(3)
    stream(project, trace_id, [root_span, *children], 4)
    call = children[1]
    sdk = SpanRecord(trace_id=trace_id, span_id="c" * 16, parent_span_id=call.parent_span_id,
                     name="anthropic.messages.create", kind=3, start_ns=call.start_ns + 1, end_ns=call.end_ns - 1,
                     attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}, scope_name=NATIVE)
    before = run_row(trace_id)
    stream(project, trace_id, [sdk], 1)
    assert marks(trace_id)["c" * 16] == call.span_id
    after = run_row(trace_id)
    assert after["steps"] == before["steps"] + 1 and after["llm_calls"] == before["llm_calls"]


def test_pairing_finds_parent_child_and_overlapping_siblings_only(project):
    trace_id, children, root_span = streaming_run(3)
    stream(project, trace_id, [root_span, *children], 4)
    parent = "a0" * 8

    def new(span_id, parent_span_id, start, end, kind="llm"):
        return {"span_id": span_id, "parent_span_id": parent_span_id, "kind": kind, "start_ns": T0 + int(start),
                "end_ns": T0 + int(end)}

    stored = children[1]  # runs from 1 s to 1.5 s under the root
    cases = [
        (new("e1" * 8, parent, 3 * SEC, 3.9 * SEC), False),  # a later sibling
        (new("e2" * 8, parent, 1.4 * SEC, 3 * SEC), True),  # an overlapping one
        (new("e8" * 8, parent, 1.5 * SEC, 1.8 * SEC), True),  # one starting as it ends
        (new("e3" * 8, stored.span_id, 5 * SEC, 6 * SEC), True),  # under a stored call
        (new("e4" * 8, parent, 1.4 * SEC, 3 * SEC, kind="tool"), False),  # not an LLM step
        (new("e5" * 8, "ff" * 8, 1.2 * SEC, 1.3 * SEC), False),  # same time, another parent
    ]
    for step, pairs in cases:
        assert (dedupe.pairing(project.id, {trace_id: [step]}) == {trace_id}) is pairs, step["span_id"]
    assert dedupe.pairing(project.id, {trace_id: [new("e6" * 8, "e7" * 8, 9 * SEC, 10 * SEC),
                                                  new("e7" * 8, parent, 8 * SEC, 11 * SEC)]}) == {trace_id}


def test_runs_are_added_to_on_postgresql_and_always_rebuilt_on_sqlite(project, grown):
    """SQLite sums decimals as floats: its runs are rebuilt, so the two never disagree by a digit."""
    trace_id, children, root_span = streaming_run(4)
    stream(project, trace_id, [root_span, *children], 2)
    assert grown == ([set()] * 3 if connection.vendor == "sqlite" else [set(), {trace_id}, {trace_id}])
    assert run_row(trace_id)["steps"] == 5 and run_row(trace_id)["llm_calls"] == 4


@pytest.mark.pg_only
def test_an_incomplete_run_that_gains_a_step_is_in_progress_again(project, grown):
    trace_id, children, root_span = streaming_run(3)
    stream(project, trace_id, children[:2], 2)
    Run.objects.filter(trace_id=trace_id).update(status=Run.INCOMPLETE)  # as the sweep marks a quiet run
    stream(project, trace_id, children[2:], 1)
    assert grown[1] == {trace_id} and run_row(trace_id)["status"] == Run.IN_PROGRESS


@pytest.mark.pg_only
def test_a_run_ending_at_zero_has_no_end_either_way(project, grown):
    """Hostile clocks: every span at the epoch. The rebuild reads an end at 0 as no end; so must the adding."""
    root = SpanRecord(trace_id="ef" * 16, span_id="a0" * 8, parent_span_id=None, name="agent", kind=1, start_ns=0,
                      end_ns=0, attributes={"gen_ai.operation.name": "invoke_agent"})
    child = dataclasses.replace(root, span_id="b0" * 8, parent_span_id="a0" * 8, name="tool")
    stream(project, root.trace_id, [root, child], 2)
    stream(project, root.trace_id, [dataclasses.replace(child, span_id="c0" * 8)], 1)
    kept = run_row(root.trace_id)
    assert grown[1] == {root.trace_id} and kept["ended_at"] is None and kept["duration_ms"] is None
    with transaction.atomic():
        recompute_runs(project.id, [root.trace_id])
    assert run_row(root.trace_id) == kept


@pytest.mark.pg_only
def test_a_row_a_worker_of_the_previous_version_rebuilt_is_rebuilt_again(project, grown):
    """During a rolling upgrade an older worker rebuilds rows without touching start_ns / end_ns: a
    row whose times no longer come from them is rebuilt, not added to."""
    trace_id, children, root_span = streaming_run(4)
    stream(project, trace_id, [root_span, children[0]], 2)
    Run.objects.filter(trace_id=trace_id).update(end_ns=T0)  # what it kept before the older worker moved the end
    stream(project, trace_id, children[1:2], 1)
    assert grown[1] == set()
    stream(project, trace_id, children[2:3], 1)
    assert grown[2] == {trace_id} and run_row(trace_id)["end_ns"] == T0 + 4 * SEC


def chain_run(trace_id, depth):
    """A root agent "planner", a sub-agent "helper", a chain of `depth` plain spans under it, and
    LLM calls at its end."""
    def agent(n, parent, name):
        return SpanRecord(trace_id=trace_id, span_id=f"{n:016x}", parent_span_id=parent, name=name, kind=1,
                          start_ns=T0, end_ns=T0 + 100 * SEC,
                          attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name})

    root, sub = agent(1, None, "planner"), agent(2, f"{1:016x}", "helper")
    chain = [SpanRecord(trace_id=trace_id, span_id=f"{i + 3:016x}", parent_span_id=f"{i + 2:016x}", name="step",
                        kind=1, start_ns=T0 + i, end_ns=T0 + SEC, attributes={}) for i in range(depth)]

    def call(n):
        return SpanRecord(trace_id=trace_id, span_id=f"{9000 + n:016x}", parent_span_id=chain[-1].span_id, name="chat",
                          kind=3, start_ns=T0 + n * SEC, end_ns=T0 + n * SEC + 1,
                          attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                      "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100,
                                      "gen_ai.usage.output_tokens": 10})
    return [root, sub, *chain], call


@pytest.mark.parametrize("depth", [3, spend.LINEAGE_LEVELS + 5])
def test_a_call_deep_under_an_agent_is_its_agent_s_however_deep(project, depth, django_assert_max_num_queries):
    """The spend upkeep walks up from a new call to the nearest agent one query a level, then reads
    the run whole: a deep chain costs a bounded number of queries, and the call is that agent's."""
    trace_id = os.urandom(16).hex()
    tree, call = chain_run(trace_id, depth)
    stream(project, trace_id, [*tree, call(1)], 1000)
    with django_assert_max_num_queries(40):
        stream(project, trace_id, [call(2)], 1)
    kept = spend_rows(trace_id)
    assert dict(SpendBucket.objects.filter(trace_id=trace_id, dimension="agent").values_list("key", "llm_calls")) == {
        "helper": 2, "planner": 0}  # the run counts for its root agent's key too
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])
    assert spend_rows(trace_id) == kept


FINE_COSTS = ("0.00000000005", "0.00000000015", "0.000000000249999", "1.23456789012345", "9999.99999999995")


def _hostile_amounts_and_names():
    """LLM spans reporting costs finer than the column (rounded by PostgreSQL, half away from zero),
    and requesting tools whose names are not strings (spend is attributed by the name)."""
    for cost in FINE_COSTS:
        yield SpanRecord(trace_id="0" * 32, span_id="0" * 16, parent_span_id="", name="chat", kind=3, start_ns=T0,
                         end_ns=T0 + SEC, attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "x",
                                                      "gen_ai.usage.cost": cost})
    for i, name in enumerate([5, 1e16, 1.5e-7, True, {"b": 1, "a": [2.0, None]}, [1e300], "get_weather", "", None]):
        message = {"role": "assistant", "parts": [{"type": "tool_call", "id": f"c{i}", "name": name,
                                                   "arguments": {"n": 1e16, "x": [1.0, -0.0]}}]}
        yield SpanRecord(trace_id="0" * 32, span_id="0" * 16, parent_span_id="", name="chat", kind=3, start_ns=T0,
                         end_ns=T0 + SEC, attributes={
                             "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                             "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1_234_567,
                             "gen_ai.usage.output_tokens": 7, "gen_ai.usage.cache_read_tokens": 3,
                             "gen_ai.output.messages": json.dumps([message])})


@pytest.mark.pg_only
def test_the_steps_just_built_are_what_reading_them_back_gives(project):
    """The indexer hands recompute_runs the steps it inserted as run_growth.values_of builds them from
    memory, instead of reading them back (run_growth.read): each value, its type and its JSON must
    be what PostgreSQL returns (of the tool calls an LLM step requested: what spend reads), for every span of the conformance corpus, the benchmark's agents,
    the normalizer's hostile values, seeded random JSON, costs finer than the column and tool names
    that are not strings."""
    from tests.tracing.native_outputs import constructed_spans, corpus_spans

    spans = [*corpus_spans(), *constructed_spans(), *_hostile_amounts_and_names()]
    # Python bytes no decoder produces (OTLP bytes arrive as base64), and no JSON column could store
    spans = [dataclasses.replace(s, trace_id=f"{i // 10:032x}", span_id=f"{i:016x}") for i, s in enumerate(
        s for s in spans if not any(isinstance(v, bytes) for v in s.attributes.values()))]
    built, _ = indexer.build_steps(project.id, spans)
    assert sum(1 for s in built if s.cost_usd is not None) > 100 and any(s.tool_calls for s in built)
    with transaction.atomic():
        indexer.write_steps(built, {})
    stored = run_growth.read(project.id, by_trace((s.trace_id, s.span_id) for s in built))

    def exact(runs):  # types and digits: Decimal('0.0035000000') is not Decimal('0.0035'), 1e16 not 10**16
        for steps in runs.values():
            for step in steps:  # of the requested calls, spend reads which are objects, and their names
                step["tool_calls"] = [isinstance(c, dict) and c.get("name") for c in step["tool_calls"] or []]
        return orjson.dumps(runs, option=orjson.OPT_SORT_KEYS, default=repr).decode()

    assert len(stored) == len(spans) // 10 + 1
    assert exact(run_growth.values_of(built)) == exact(stored)


def _step_reads(queries):
    """The statements among these that read steps for the runs' and spend rows (all their columns)."""
    return [q for q in queries if q.lstrip().startswith("SELECT") and 'FROM "tracing_step"' in q
            and '"tracing_step"."cost_breakdown"' in q]


@pytest.fixture
def queries():
    """Every SQL statement run while the fixture is in use."""
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        yield seen


@pytest.mark.pg_only
def test_steps_just_inserted_are_not_read_back(project, grown, queries):
    """A new run, a run that only grows, then its root: none reads back the steps its transaction
    inserted (the root's reads only the run's earlier steps), and the rows are what a rebuild from
    the stored steps gives."""
    trace_id, children, root_span = streaming_run(6, root_agent=None)
    stream(project, trace_id, children[:3], 3)  # a new run
    assert _step_reads(queries) == []
    stream(project, trace_id, children[3:5], 2)  # it only grows
    assert grown == [set(), {trace_id}] and _step_reads(queries) == []
    # Rebuilt: a step names an agent, and the root none of its own to prevail.
    stream(project, trace_id, [root_span, with_agent(children[5], "critic")], 2)
    assert grown[2] == set()
    assert len(_step_reads(queries)) == 1 and " NOT " in _step_reads(queries)[0]
    kept = run_row(trace_id), spend_rows(trace_id)
    assert kept[0]["steps"] == 7 and kept[0]["agent"] == "critic"
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])
    assert (run_row(trace_id), spend_rows(trace_id)) == kept


@pytest.mark.pg_only
@pytest.mark.parametrize("root_last", [False, True])
def test_a_run_first_seen_is_computed_from_its_steps_in_memory(project, queries, root_last):
    """A run indexed in one transaction: its Run row is computed from the steps just built, its
    duplicate check needs no read (no two calls can pair), and the only step query is the lookup
    of the spans' stored versions."""
    trace_id, children, root_span = streaming_run(5)
    children[2] = with_agent(children[2], "critic")
    spans = [*children, root_span] if root_last else [root_span, *children]
    queries.clear()
    stream(project, trace_id, spans, len(spans))
    step_queries = [q for q in queries if 'FROM "tracing_step"' in q]
    assert len(step_queries) == 1 and '"tracing_step"."version"' in step_queries[0]
    kept = run_row(trace_id), spend_rows(trace_id)
    assert (kept[0]["steps"], kept[0]["agent"], kept[0]["status"], kept[0]["models_used"]) == (6, "planner", Run.OK,
                                                                                            ["gpt-4o"])
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])
    assert (run_row(trace_id), spend_rows(trace_id)) == kept


@pytest.mark.pg_only
def test_runs_with_more_new_span_ids_than_a_query_should_bind_are_read_whole(project, queries, monkeypatch):
    monkeypatch.setattr(spend, "HELD_MAX", 2)
    trace_id, children, root_span = streaming_run(4, root_agent=None)
    stream(project, trace_id, children[:2], 2)
    stream(project, trace_id, [root_span, with_agent(children[2], "critic"), children[3]], 3)  # 3 new span ids: rebuilt
    assert [" NOT " in q for q in _step_reads(queries)] == [False]
    kept = run_row(trace_id), spend_rows(trace_id)
    with transaction.atomic():
        recompute_runs(project.id, [trace_id])
    assert (run_row(trace_id), spend_rows(trace_id)) == kept and kept[0]["steps"] == 5


@pytest.mark.pg_only
def test_a_run_sharing_a_span_id_with_another_is_read_whole(project):
    """The earlier steps of rebuilt runs are read without the span ids just inserted in any of them:
    a run whose earlier step has a span id another run's new step has is then short of it, and is
    read whole."""
    a, a_children, a_root = streaming_run(3, root_agent=None, trace_id="aa" * 16)
    b, b_children, b_root = streaming_run(2, root_agent=None, trace_id="bb" * 16)
    b_children = [dataclasses.replace(s, span_id=f"b{i:015x}") for i, s in enumerate(b_children)]
    shared = dataclasses.replace(b_children[1], span_id=a_children[0].span_id)  # new in b, earlier in a
    stream(project, a, [*a_children[:2], b_children[0]], 3)
    with transaction.atomic():  # both rebuilt: a step names an agent, their roots none
        index_spans(project.id, [a_root, with_agent(a_children[2], "x"), b_root, with_agent(shared, "y")])
    kept = {t: (run_row(t), spend_rows(t)) for t in (a, b)}
    assert kept[a][0]["steps"] == 4 and kept[b][0]["steps"] == 3
    with transaction.atomic():
        recompute_runs(project.id, [a, b])
    assert {t: (run_row(t), spend_rows(t)) for t in (a, b)} == kept


@pytest.mark.pg_only
def test_a_cost_finer_than_the_column_is_rounded_as_postgresql_rounds_it(project):
    """build_step rounds what PostgreSQL would have rounded on storing it, so that the Step in memory
    is the stored one: the stored amount is the same as when the database rounded it."""
    spans = [dataclasses.replace(s, span_id=f"{i:016x}") for i, s in enumerate(_hostile_amounts_and_names())]
    built, _ = indexer.build_steps(project.id, spans[:len(FINE_COSTS)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT x::numeric(20, 10) FROM unnest(%s::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n",
                       [list(FINE_COSTS)])
        assert [s.cost_usd for s in built] == [row[0] for row in cursor.fetchall()]
    assert [str(s.cost_usd) for s in built][:2] == ["1E-10", "2E-10"]  # half away from zero, not to even
