"""Real OTLP payloads captured from real instrumentation libraries (tests/fixtures/otlp/) ingest to
exactly the facts the fake LLM server returned: models, tokens, costs, tool calls, messages.

The expected facts are ground truth from the generator's canned responses, not read back from the
payloads; a fact a library does not send at all is listed under `dropped_by_library` and expected absent.
"""
import base64
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tracing import pricing
from tracing.models import Run, Step

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "otlp"
CORPUS = sorted(FIXTURES.glob("*.expected.json"))
pytestmark = pytest.mark.django_db(transaction=True)


def load(path):
    return json.loads(path.read_text())


def dropped(expected, index=None):
    """Field names the library does not send, for one llm call (`llm_calls[i].field` or `field`)."""
    names = set()
    for entry in expected.get("dropped_by_library", []):
        field = entry["field"] if isinstance(entry, dict) else entry
        names.add(field.rsplit(".", 1)[-1] if index is None or f"[{index}]" in field or "[" not in field else "")
    return names - {""}


def post_fixture(client, api_key, expected):
    for req in expected["requests"]:
        body = (FIXTURES / req["file"]).read_bytes()
        headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
        if req.get("authorization_scheme") == "basic":
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"pk-lf-test:{api_key}".encode()).decode()
        response = client.post(req["path"], data=body, content_type=req["content_type"], **headers)
        assert response.status_code == 200, (req["file"], response.content[:300])


def as_json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@pytest.mark.parametrize("path", CORPUS, ids=[p.name.split(".")[0] for p in CORPUS])
def test_fixture_ingests_to_its_ground_truth(client, api_key, path):
    expected = load(path)
    post_fixture(client, api_key, expected)
    steps = list(Step.objects.order_by("start_ns", "span_id"))
    assert len(steps) == expected["span_count"]
    assert Run.objects.count() == expected["traces"]
    kinds = {k: sum(1 for s in steps if s.kind == k) for k in expected["span_kinds"]}
    assert kinds == expected["span_kinds"]

    llm_steps = [s for s in steps if s.kind == "llm"]
    assert len(llm_steps) == expected["llm_steps"]
    for step, call in zip(llm_steps, expected["llm_calls"]):
        gone = dropped(expected, call["index"])
        where = f"llm call {call['index']}"
        assert step.provider == call["provider"], where
        assert step.model == (call["request_model"] if "response_model" in gone else call["model"]), where
        for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
            want = None if field in gone else call[field]
            assert getattr(step, field) == want, f"{where}: {field}"
        if call["has_input_messages"] and "input_messages" not in gone:
            assert step.input, f"{where}: input messages"
        if call["has_output_messages"] and "output_messages" not in gone:
            assert step.output, f"{where}: output messages"
        if call["reasoning_text"] and "reasoning_text" not in gone:
            assert call["reasoning_text"] in step.reasoning, f"{where}: reasoning"
        if "tool_calls" not in gone:
            got = [(c.get("name"), as_json(c.get("arguments"))) for c in step.tool_calls]
            assert got == [(c["name"], c["arguments"]) for c in call["tool_calls"]], f"{where}: tool calls"
        # Cost: what the instrumentation reported wins; otherwise computed from genai-prices.
        if call.get("reported_cost_usd") is not None:
            assert (step.cost_source, step.cost_usd) == ("reported", Decimal(call["reported_cost_usd"])), where
        else:
            want = pricing.price(provider=step.provider, model=step.model, input_tokens=step.input_tokens,
                                 output_tokens=step.output_tokens, cache_read_tokens=step.cache_read_tokens,
                                 cache_write_tokens=step.cache_write_tokens, reasoning_tokens=step.reasoning_tokens,
                                 at=None)
            assert step.cost_source == "computed", f"{where}: {step.cost_note}"
            assert step.cost_usd == want.total and step.cost_usd > 0, where

    tool_steps = [s for s in steps if s.kind == "tool"]
    assert len(tool_steps) == len(expected["tool_calls"])
    for step, call in zip(tool_steps, expected["tool_calls"]):
        assert step.tool_name == call["name"]
        assert as_json(step.tool_arguments) == call["arguments"]
        assert as_json(step.tool_result) == call["result"]


def test_reingesting_the_whole_corpus_changes_nothing(client, api_key):
    for path in CORPUS:
        post_fixture(client, api_key, load(path))
    before = list(Step.objects.order_by("trace_id", "span_id").values_list("trace_id", "span_id", "cost_usd", "input_tokens"))
    for path in CORPUS:
        post_fixture(client, api_key, load(path))
    after = list(Step.objects.order_by("trace_id", "span_id").values_list("trace_id", "span_id", "cost_usd", "input_tokens"))
    assert before == after and len(before) == sum(load(p)["span_count"] for p in CORPUS)
