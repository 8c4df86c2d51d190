"""Real OTLP payloads captured from real instrumentation libraries (tests/fixtures/otlp/) ingest to
exactly the facts the fake LLM server returned: models, tokens, costs, finish reasons, messages,
tool calls, and run totals that count every LLM call once.

The expected facts are ground truth from the generator's canned responses, not read back from the
payloads. A fact a library does not send at all is listed under `dropped_by_library` and expected
absent on the step; everything else must match exactly. See the `schema` key of any
`*.expected.json` and tests/fixtures/otlp/README.md.
"""
import base64
import gzip
import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracing import pricing
from tracing.conventions.providers import provider_from_model
from tracing.indexer import ns_to_datetime
from tracing.models import Run, Step
from tracing.spend import to_units
from tracing.spend_models import TOTALS, SpendBucket

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "otlp"
CORPUS = sorted(FIXTURES.glob("*.expected.json"))
IDS = [p.name.split(".")[0] for p in CORPUS]
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
pytestmark = pytest.mark.django_db(transaction=True)


def load(path):
    return json.loads(path.read_text())


# --- dropped_by_library ---------------------------------------------------------------------------

# `field` is a path into the expected facts: `<list>[<index>|*].<fact>`, e.g. `llm_calls[*].provider`
# (every LLM call) or `tool_calls[0].call_id` (the first tool call only).
DROPPED_FIELD = re.compile(r"^(llm_calls|tool_calls)\[(\*|\d+)\]\.([a-z_]+)$")


def dropped(expected):
    """{("llm_calls" | "tool_calls", index): {fact, ...}}: the facts the library does not send, per item.

    Follows the schema exactly: entries are {field, note}; an entry in any other shape, a path in any
    other form, an unknown fact or an index out of range fails the test instead of being ignored."""
    gone = defaultdict(set)
    for entry in expected["dropped_by_library"]:
        assert isinstance(entry, dict) and set(entry) == {"field", "note"}, f"bad dropped_by_library entry {entry!r}"
        match = DROPPED_FIELD.match(entry["field"])
        assert match, f"unknown dropped field path {entry['field']!r}"
        section, index, fact = match.groups()
        items = expected[section]
        indexes = [item["index"] for item in items]
        assert indexes == list(range(len(items))), f"{section} items must be indexed in order"
        assert all(fact in item for item in items), f"{entry['field']}: no such fact in {section}"
        if index == "*":
            chosen = indexes
        else:
            assert int(index) in indexes, f"{entry['field']}: no {section}[{index}]"
            chosen = [int(index)]
        for i in chosen:
            gone[(section, i)].add(fact)
    return gone


def test_dropped_reads_the_field_paths_exactly():
    expected = {
        "llm_calls": [{"index": 0, "provider": "a", "reasoning_tokens": 1}, {"index": 1, "provider": "b",
                                                                             "reasoning_tokens": 2}],
        "tool_calls": [{"index": 0, "call_id": "c0"}, {"index": 1, "call_id": "c1"}],
        "dropped_by_library": [{"field": "llm_calls[*].provider", "note": ""},
                               {"field": "llm_calls[1].reasoning_tokens", "note": ""},
                               {"field": "tool_calls[0].call_id", "note": ""}],
    }
    assert dropped(expected) == {("llm_calls", 0): {"provider"}, ("llm_calls", 1): {"provider", "reasoning_tokens"},
                                 ("tool_calls", 0): {"call_id"}}
    for bad in ("llm_calls[*].nope", "llm_calls[2].provider", "call_id", "tool_calls.call_id"):
        with pytest.raises(AssertionError):
            dropped({**expected, "dropped_by_library": [{"field": bad, "note": ""}]})


def expected_llm_step(call, gone):
    """What the LLM step must hold: the call's facts, a dropped fact absent (None, "" or [])."""
    def fact(name, absent=None):
        return absent if name in gone else call[name]

    want = {name: fact(name) for name in TOKENS}
    want["request_model"] = fact("request_model", "")
    # `model` is the response model; without one, the requested model.
    want["model"] = want["request_model"] if {"model", "response_model"} & gone else call["model"]
    # A dropped provider is not in the payload. conventions.md (mapping table, `provider`) has the
    # normalizer fall back to the vendor the model name alone implies, never to anything else.
    want["provider"] = provider_from_model(want["model"]) if "provider" in gone else call["provider"]
    want["finish_reasons"] = [] if "finish_reason" in gone else [call["finish_reason"]]
    want["reasoning"] = fact("reasoning_text") or ""
    want["output_texts"] = [] if "output_text" in gone or call["output_text"] is None else [call["output_text"]]
    want["tool_calls"] = [] if "tool_calls" in gone else [
        (c["id"], c["name"], c["arguments"]) for c in call["tool_calls"]]
    want["reported_cost"] = None if "reported_cost_usd" in gone or call["reported_cost_usd"] is None \
        else Decimal(call["reported_cost_usd"])
    return want


def expected_cost(want, start_ns):
    """A reported cost as reported (exact Decimal); otherwise genai-prices on the ground-truth facts
    (with dropped ones absent), never on what was stored."""
    if want["reported_cost"] is not None:
        return "reported", want["reported_cost"]
    cost = pricing.price(provider=want["provider"], model=want["model"], at=ns_to_datetime(start_ns),
                         **{name: want[name] for name in TOKENS})
    assert cost.source == "computed" and cost.total > 0, cost.note
    return "computed", cost.total


# --- posting ---------------------------------------------------------------------------------------


def headers_for(api_key, req):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    if (req.get("authorization_scheme") or "").lower() == "basic":  # as the Langfuse SDK sends it
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"pk-lf-test:{api_key}".encode()).decode()
    return headers


def post_body(client, api_key, req, body):
    headers = headers_for(api_key, req)
    if req.get("content_encoding") == "gzip":  # replayed as sent; the stored file is decompressed
        body = gzip.compress(body)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    response = client.post(req["path"], data=body, content_type=req["content_type"], **headers)
    assert response.status_code == 200, (req["file"], response.content[:300])


def post_fixture(client, api_key, expected):
    for req in expected["requests"]:
        post_body(client, api_key, req, (FIXTURES / req["file"]).read_bytes())


def post_fixture_span_by_span(client, api_key, expected):
    """Every span in its own request, the last-started first: spans of one LLM call (and a duplicate
    and the step it repeats) land in different batches, children before their parents."""
    for req in expected["requests"]:
        request = ExportTraceServiceRequest.FromString((FIXTURES / req["file"]).read_bytes())
        singles = []
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    single = ExportTraceServiceRequest()
                    rs = single.resource_spans.add(resource=resource_spans.resource,
                                                   schema_url=resource_spans.schema_url)
                    ss = rs.scope_spans.add(scope=scope_spans.scope, schema_url=scope_spans.schema_url)
                    ss.spans.append(span)
                    singles.append((span.start_time_unix_nano, single))
        for _, single in sorted(singles, key=lambda s: s[0], reverse=True):
            post_body(client, api_key, req, single.SerializeToString())


# --- the checks ------------------------------------------------------------------------------------


def as_json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def is_messages(value):
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("parts"), list) for m in value)


def output_texts(step):
    return [p["content"] for m in step.output or [] for p in m.get("parts", []) if p.get("type") == "text"]


def check_ground_truth(expected):
    steps = list(Step.objects.order_by("start_ns", "span_id"))
    assert len(steps) == expected["span_count"]
    assert Run.objects.count() == expected["traces"]
    by_span = {s.span_id: s for s in steps}
    kinds = {k: sum(1 for s in steps if s.kind == k and not s.duplicate_of) for k in expected["span_kinds"]}
    kinds["llm_duplicate"] = sum(1 for s in steps if s.kind == "llm" and s.duplicate_of)
    assert kinds == {"llm_duplicate": 0, **expected["span_kinds"]}
    gone = dropped(expected)

    llm_steps = [s for s in steps if s.kind == "llm" and not s.duplicate_of]
    assert len(llm_steps) == expected["llm_steps"] == len(expected["llm_calls"])
    run_want = {"llm_calls": 0, "cost_usd": Decimal(0), "models_used": [], **{name: 0 for name in TOKENS}}
    for step, call in zip(llm_steps, expected["llm_calls"]):
        where = f"llm call {call['index']}"
        want = expected_llm_step(call, gone[("llm_calls", call["index"])])
        got = {name: getattr(step, name) for name in ("provider", "model", "request_model", *TOKENS,
                                                      "finish_reasons", "reasoning")}
        assert got == {name: want[name] for name in got}, where
        if want["input_tokens"] is not None and want["output_tokens"] is not None:
            assert step.input_tokens + step.output_tokens == call["total_tokens"], where
        if call["has_input_messages"] and "has_input_messages" not in gone[("llm_calls", call["index"])]:
            assert is_messages(step.input), f"{where}: input messages"
        if call["has_output_messages"] and "has_output_messages" not in gone[("llm_calls", call["index"])]:
            assert is_messages(step.output), f"{where}: output messages"
            assert output_texts(step) == want["output_texts"], f"{where}: output text"
        got_calls = [(c.get("id"), c.get("name"), as_json(c.get("arguments"))) for c in step.tool_calls]
        assert got_calls == want["tool_calls"], f"{where}: tool calls"
        source, cost = expected_cost(want, step.start_ns)
        assert (step.cost_source, step.cost_usd) == (source, cost), f"{where}: {step.cost_note}"

        run_want["llm_calls"] += 1
        run_want["cost_usd"] += cost
        for name in TOKENS:
            run_want[name] += want[name] or 0
        if want["model"] not in run_want["models_used"]:
            run_want["models_used"].append(want["model"])

    tool_steps = [s for s in steps if s.kind == "tool"]
    assert len(tool_steps) == len(expected["tool_calls"])
    for step, call in zip(tool_steps, expected["tool_calls"]):
        where = f"tool call {call['index']}"
        call_gone = gone[("tool_calls", call["index"])]
        assert step.tool_name == ("" if "name" in call_gone else call["name"]), where
        assert step.tool_call_id == ("" if "call_id" in call_gone else call["call_id"]), where
        assert as_json(step.tool_arguments) == (None if "arguments" in call_gone else call["arguments"]), where
        assert as_json(step.tool_result) == (None if "result" in call_gone else call["result"]), where

    check_duplicates(expected, steps, by_span)

    # Run totals: every LLM call once, whatever duplicate spans the library's stack emitted.
    run = Run.objects.get()
    assert {name: getattr(run, name) for name in run_want} == run_want
    assert (run.unpriced_calls, run.tool_calls, run.steps) == (0, len(expected["tool_calls"]), expected["span_count"])
    # Spend (pre-aggregated at index time from the same Steps) counts every call once too.
    for dimension in (TOTALS, "model"):
        spent = SpendBucket.objects.filter(trace_id=run.trace_id, dimension=dimension).aggregate(
            llm_calls=Sum("llm_calls"), cost_units=Sum("cost_units"), input_tokens=Sum("input_tokens"))
        assert spent == {"llm_calls": run_want["llm_calls"], "cost_units": to_units(run_want["cost_usd"]),
                         "input_tokens": run_want["input_tokens"]}, dimension


def check_duplicates(expected, steps, by_span):
    duplicates = [s for s in steps if s.duplicate_of]
    spec = expected["duplicate_llm_spans"]
    assert len(duplicates) == (spec["count"] if spec else 0) == expected["span_kinds"].get("llm_duplicate", 0)
    for dup in duplicates:
        primary = by_span[dup.duplicate_of]
        where = f"duplicate {dup.span_id}"
        assert dup.kind == primary.kind == "llm" and not primary.duplicate_of, where
        assert dup.raw["scope"]["name"] == spec["scope"], where
        if spec["relation"] == "child":
            assert dup.parent_span_id == primary.span_id, where
        else:
            assert spec["relation"] == "sibling" and dup.parent_span_id == primary.parent_span_id, where
        if spec["match_on"] == "gen_ai.response.id":
            response_id = dup.raw["attributes"]["gen_ai.response.id"]
            assert primary.raw["attributes"]["gen_ai.response.id"] == response_id, where
        # The same call: the same usage on both spans.
        assert [getattr(dup, n) for n in TOKENS] == [getattr(primary, n) for n in TOKENS], where
    assert len({d.duplicate_of for d in duplicates}) == len(duplicates)  # one duplicate per call


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_fixture_ingests_to_its_ground_truth(client, api_key, path):
    expected = load(path)
    post_fixture(client, api_key, expected)
    check_ground_truth(expected)


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_fixture_sent_span_by_span_ingests_to_the_same_ground_truth(client, api_key, path):
    expected = load(path)
    post_fixture_span_by_span(client, api_key, expected)
    check_ground_truth(expected)


def test_reingesting_the_whole_corpus_changes_nothing(client, api_key):
    def snapshot():
        steps = list(Step.objects.order_by("trace_id", "span_id").values_list(
            "trace_id", "span_id", "cost_usd", "input_tokens", "duplicate_of"))
        runs = list(Run.objects.order_by("trace_id").values_list(
            "trace_id", "llm_calls", "input_tokens", "output_tokens", "cost_usd", "models_used"))
        return steps, runs

    for path in CORPUS:
        post_fixture(client, api_key, load(path))
    before = snapshot()
    for path in CORPUS:
        post_fixture(client, api_key, load(path))
    assert snapshot() == before
    assert len(before[0]) == sum(load(p)["span_count"] for p in CORPUS)
    assert sum(1 for s in before[0] if s[4]) == sum(load(p)["span_kinds"].get("llm_duplicate", 0) for p in CORPUS)
