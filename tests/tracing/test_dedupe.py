"""Duplicate LLM spans (tracing.dedupe): a provider SDK's own span repeating an instrumentation's LLM
span is kept as a step, marked `duplicate_of`, and left out of run totals, whatever the batches."""
import pytest
from django.db import transaction

from tracing.dedupe import NATIVE_SCOPES, candidate_pairs, decide, mark_duplicates
from tracing.indexer import index_spans
from tracing.models import Run, Step
from tracing.spans import SpanRecord

TRACE = "5b8efff798038103d269b633813fc60c"
NATIVE = "com.anthropic.sdk.python"
MODEL = "claude-sonnet-4-5-20250929"
SEC = 1_000_000_000
T0 = 1_780_000_000 * SEC


# --- the decision, on plain rows ------------------------------------------------------------------


def row(span_id, *, parent="root", start=0, end=10, scope="lib", response_id="", model=MODEL, tokens=100,
        id=None):
    return {"id": id or int(span_id, 16), "trace_id": TRACE, "span_id": span_id, "parent_span_id": parent,
            "start_ns": start, "end_ns": end, "model": model, "request_model": "", "input_tokens": tokens,
            "output_tokens": tokens, "cost_usd": None, "duplicate_of": "", "scope": scope,
            "response_id": response_id}


def duplicates(*rows):
    """{span id: span id it duplicates}."""
    found = decide(candidate_pairs(list(rows)))
    return {r["span_id"]: found[r["id"]] for r in rows if r["id"] in found}


def test_native_scopes_name_the_anthropic_sdk():
    assert NATIVE in NATIVE_SCOPES


def test_sibling_with_the_same_response_id_is_a_duplicate_of_the_instrumentation_span():
    lib, sdk = row("a1", response_id="msg_1"), row("b1", start=1, end=9, scope=NATIVE, response_id="msg_1")

    assert duplicates(lib, sdk) == {"b1": "a1"}


def test_overlapping_siblings_with_different_response_ids_are_two_calls():
    lib, sdk = row("a1", response_id="msg_1"), row("b1", start=1, end=9, scope=NATIVE, response_id="msg_2")

    assert duplicates(lib, sdk) == {}


def test_sibling_without_a_response_id_matches_on_model_and_overlapping_time():
    lib = row("a1")
    assert duplicates(lib, row("b1", start=1, end=9, scope=NATIVE, response_id="msg_1")) == {"b1": "a1"}
    assert duplicates(lib, row("b1", start=1, end=9, scope=NATIVE, model="other")) == {}
    assert duplicates(lib, row("b1", start=11, end=19, scope=NATIVE)) == {}  # one after the other: two calls


def test_native_child_of_an_llm_step_is_its_duplicate_without_any_id():
    generation = row("a1", response_id="")  # a Langfuse generation: no response id, no provider
    sdk = row("b1", parent="a1", start=1, end=9, scope=NATIVE, response_id="msg_1", model="claude-sonnet-4-5")

    assert duplicates(generation, sdk) == {"b1": "a1"}


def test_retried_sdk_calls_under_one_generation_are_all_its_duplicates():
    generation = row("a1")
    assert duplicates(generation, row("b1", parent="a1", start=1, end=4, scope=NATIVE),
                      row("b2", parent="a1", start=5, end=9, scope=NATIVE)) == {"b1": "a1", "b2": "a1"}


def test_two_spans_of_the_same_kind_of_scope_never_pair():
    assert duplicates(row("a1"), row("b1", start=1, end=9)) == {}  # two instrumentation spans: two calls
    assert duplicates(row("a1", scope=NATIVE), row("b1", start=1, end=9, scope=NATIVE)) == {}
    assert duplicates(row("a1", scope=NATIVE), row("b1", parent="a1", start=1, end=9, scope=NATIVE)) == {}


def test_parallel_calls_pair_by_response_id():
    rows = [row("a1", start=0, end=10, response_id="msg_1"), row("a2", start=0, end=10, response_id="msg_2"),
            row("b1", start=1, end=9, scope=NATIVE, response_id="msg_2"),
            row("b2", start=1, end=9, scope=NATIVE, response_id="msg_1")]

    assert duplicates(*rows) == {"b1": "a2", "b2": "a1"}


def test_parallel_calls_without_ids_pair_one_to_one():
    rows = [row("a1", start=0, end=10), row("a2", start=2, end=12),
            row("b1", start=1, end=9, scope=NATIVE), row("b2", start=3, end=11, scope=NATIVE)]

    found = duplicates(*rows)
    assert sorted(found) == ["b1", "b2"] and sorted(found.values()) == ["a1", "a2"]


def test_the_instrumentation_span_is_the_duplicate_when_only_the_sdk_span_has_usage():
    generation = row("a1", tokens=None)
    sdk = row("b1", parent="a1", start=1, end=9, scope=NATIVE)

    assert duplicates(generation, sdk) == {"a1": "b1"}


# --- at index time ----------------------------------------------------------------------------------


def record(span_id, *, parent="a000000000000000", start=1, end=9, scope="opentelemetry.instrumentation.anthropic",
           response_id="msg_1", input_tokens=1230, name="anthropic.chat", kind="chat", **extra):
    attributes = {"gen_ai.operation.name": kind, "gen_ai.provider.name": "anthropic",
                  "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.model": MODEL,
                  "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": 96,
                  "gen_ai.usage.cache_read.input_tokens": 1024, **extra}
    if response_id:
        attributes["gen_ai.response.id"] = response_id
    return SpanRecord(trace_id=TRACE, span_id=span_id, parent_span_id=parent, name=name, kind=3,
                      start_ns=T0 + start * SEC, end_ns=T0 + end * SEC, attributes=attributes, scope_name=scope)


def root():
    return SpanRecord(trace_id=TRACE, span_id="a000000000000000", parent_span_id=None, name="invoke_agent weather",
                      kind=1, start_ns=T0, end_ns=T0 + 30 * SEC,
                      attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather"})


def index(project, *spans):
    with transaction.atomic():
        index_spans(project.id, list(spans))


def marks():
    return dict(Step.objects.filter(kind="llm").values_list("span_id", "duplicate_of"))


def llm_totals():
    run = Run.objects.get(trace_id=TRACE)
    return run.llm_calls, run.input_tokens, run.cache_read_tokens, run.models_used


@pytest.mark.django_db
def test_sdk_duplicate_in_another_batch_is_marked_and_not_counted(project):
    library = record("b000000000000001")
    sdk = record("c000000000000001", start=2, end=8, scope=NATIVE, name="anthropic.messages.create")

    index(project, sdk)  # the SDK span ends first, so it usually comes first
    assert marks() == {"c000000000000001": ""}  # alone, it is the LLM call
    assert llm_totals() == (1, 1230, 1024, [MODEL])

    index(project, library, root())
    assert marks() == {"b000000000000001": "", "c000000000000001": "b000000000000001"}
    assert llm_totals() == (1, 1230, 1024, [MODEL])
    run = Run.objects.get(trace_id=TRACE)
    library_cost = Step.objects.get(span_id="b000000000000001").cost_usd
    assert library_cost > 0 and run.cost_usd == library_cost and run.unpriced_calls == 0
    assert run.steps == 3  # the duplicate stays a step


@pytest.mark.django_db
def test_sdk_child_of_a_generation_is_marked_in_either_order(project):
    generation = record("b000000000000001", scope="langfuse-sdk", response_id="", name="generation")
    sdk = record("c000000000000001", parent="b000000000000001", start=2, end=8, scope=NATIVE, response_id="msg_1")

    for order in ((generation, sdk), (sdk, generation)):
        Step.objects.all().delete()
        Run.objects.all().delete()
        for one in (*order, root()):
            index(project, one)
        assert marks() == {"b000000000000001": "", "c000000000000001": "b000000000000001"}
        assert llm_totals() == (1, 1230, 1024, [MODEL])


@pytest.mark.django_db
def test_a_mark_that_no_longer_holds_is_cleared(project):
    library = record("b000000000000001", response_id="")
    sdk = record("c000000000000001", start=2, end=8, scope=NATIVE, response_id="msg_2")
    index(project, root(), library, sdk)
    assert marks()["c000000000000001"] == "b000000000000001"  # same model, overlapping, one id missing

    # The library span re-sent complete: another response, so another call after all.
    index(project, record("b000000000000001", response_id="msg_1", end=10))
    assert marks() == {"b000000000000001": "", "c000000000000001": ""}
    assert llm_totals()[:2] == (2, 2460)


@pytest.mark.django_db
def test_replaying_a_duplicate_keeps_its_mark(project):
    spans = [root(), record("b000000000000001"), record("c000000000000001", start=2, end=8, scope=NATIVE)]
    index(project, *spans)
    before = marks()
    index(project, spans[2])
    assert marks() == before and before["c000000000000001"] == "b000000000000001"
    assert mark_duplicates(project.id, [TRACE]) == set()  # nothing left to change


@pytest.mark.django_db
def test_sequential_calls_of_the_same_model_are_not_duplicates(project):
    index(project, root(), record("b000000000000001", start=1, end=5, response_id=""),
          record("c000000000000001", start=6, end=9, scope=NATIVE, response_id=""))

    assert marks() == {"b000000000000001": "", "c000000000000001": ""}
    assert llm_totals()[0] == 2
