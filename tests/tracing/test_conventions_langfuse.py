"""Langfuse SDK attributes: observation type, input/output, usage/cost details, level, trace context."""
import json
from decimal import Decimal

import pytest

from tracing.conventions import normalize
from tracing.spans import STATUS_ERROR, SpanRecord


def span(attributes=None, *, name="generation", status_code=0, status_message="", resource=None):
    return SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_span_id=None,
        name=name, kind=1, start_ns=1, end_ns=2, status_code=status_code, status_message=status_message,
        attributes=dict(attributes or {}), resource=resource or {}, scope_name="langfuse-sdk",
    )


GENERATION = {
    "langfuse.observation.type": "generation",
    "langfuse.observation.model.name": "claude-sonnet-4-5-20250929",
    "langfuse.observation.model.parameters": '{"max_tokens": 1024}',
    "langfuse.observation.input": json.dumps([{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Summarise the ticket."}]),
    "langfuse.observation.output": json.dumps({"role": "assistant", "content": "Customer wants a refund."}),
    "langfuse.observation.usage_details": json.dumps(
        {"input": 100, "output": 50, "total": 150, "cache_read_input_tokens": 400, "input_cache_creation": 30}),
    "langfuse.observation.cost_details": json.dumps({"input": 0.0003, "output": 0.00075, "total": 0.00105}),
    "langfuse.observation.completion_start_time": '"2026-05-01T10:00:00.120Z"',
    "langfuse.trace.name": "support-triage",
    "langfuse.session.id": "ticket-991",
    "langfuse.user.id": "agent-bot",
    "langfuse.trace.tags": ["support", "triage"],
    "langfuse.environment": "staging",
    "langfuse.release": "2026.05.1",
}


def test_langfuse_input_tokens_become_cache_inclusive():
    step = normalize(span(GENERATION))

    assert (step.input_tokens, step.cache_read_tokens, step.cache_write_tokens) == (530, 400, 30)


def test_langfuse_output_tokens_add_back_reasoning_tokens():
    usage = {"input": 10, "output": 40, "output_reasoning_tokens": 200}
    step = normalize(span({**GENERATION, "langfuse.observation.usage_details": json.dumps(usage)}))

    assert (step.input_tokens, step.output_tokens, step.reasoning_tokens) == (10, 240, 200)


def test_langfuse_cost_details_total_is_the_reported_cost():
    assert normalize(span(GENERATION)).reported_cost == Decimal("0.00105")


def test_langfuse_cost_details_without_total_sum_their_parts():
    step = normalize(span({**GENERATION, "langfuse.observation.cost_details": '{"input": 0.1, "output": 0.2}'}))

    assert step.reported_cost == Decimal("0.3")


def test_langfuse_generation_is_an_llm_step_with_model_and_messages():
    step = normalize(span(GENERATION))

    assert (step.kind, step.convention, step.model) == ("llm", "langfuse", "claude-sonnet-4-5-20250929")
    assert step.provider == "anthropic"  # from the model name: nothing else names it
    assert step.input == [{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                          {"role": "user", "parts": [{"type": "text", "content": "Summarise the ticket."}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "Customer wants a refund."}]}]
    assert step.system_instructions == [{"type": "text", "content": "Be brief."}]


def test_langfuse_trace_context_maps_session_user_tags_and_environment():
    step = normalize(span(GENERATION))

    assert (step.session_id, step.user_id, step.tags, step.environment) == (
        "ticket-991", "agent-bot", ["support", "triage"], "staging")


def test_langfuse_keys_without_a_step_field_stay_unmapped():
    step = normalize(span(GENERATION))

    assert set(step.unmapped) == {"langfuse.observation.model.parameters", "langfuse.observation.completion_start_time",
                                  "langfuse.trace.name", "langfuse.release"}


@pytest.mark.parametrize("tags", [["a", "b"], '["a", "b"]', "a, b"])
def test_langfuse_tags_accept_arrays_json_strings_and_comma_separated_strings(tags):
    assert normalize(span({"langfuse.trace.tags": tags})).tags == ["a", "b"]


def test_langfuse_legacy_span_type_with_generation_attributes_is_an_llm_step():
    step = normalize(span({"langfuse.observation.type": "span", "langfuse.observation.model.name": "gpt-4o",
                           "langfuse.observation.usage_details": '{"input": 5, "output": 2}'}))

    assert (step.kind, step.input_tokens, step.output_tokens) == ("llm", 5, 2)


@pytest.mark.parametrize("observation_type, kind", [
    ("generation", "llm"), ("embedding", "embedding"), ("agent", "agent"), ("tool", "tool"),
    ("retriever", "retrieval"), ("chain", "other"), ("span", "other"), ("event", "other"),
    ("guardrail", "other"), ("evaluator", "other"),
])
def test_langfuse_observation_types_map_to_kinds(observation_type, kind):
    assert normalize(span({"langfuse.observation.type": observation_type})).kind == kind


def test_langfuse_observation_type_outranks_the_genai_operation():
    step = normalize(span({"langfuse.observation.type": "agent", "gen_ai.operation.name": "chat"}))

    assert step.kind == "agent"


def test_langfuse_model_name_outranks_other_model_attributes():
    step = normalize(span({**GENERATION, "gen_ai.response.model": "claude-sonnet-4-5"}))

    assert step.model == "claude-sonnet-4-5-20250929"


def test_langfuse_tool_observation_input_and_output_are_the_tool_call():
    step = normalize(span({"langfuse.observation.type": "tool", "langfuse.observation.input": '{"order_id": 42}',
                           "langfuse.observation.output": "refunded"}, name="refund_order"))

    assert (step.kind, step.tool_name, step.tool_arguments, step.tool_result) == (
        "tool", "refund_order", {"order_id": 42}, "refunded")
    assert (step.input, step.output) == (None, None)


def test_langfuse_plain_text_input_on_a_span_stays_text():
    step = normalize(span({"langfuse.observation.type": "span", "langfuse.observation.input": "hello"}))

    assert step.input == "hello"


def test_langfuse_metadata_merges_json_and_flattened_keys_and_reads_langfuse_ids():
    step = normalize(span({
        "langfuse.trace.metadata": '{"plan": "pro", "langfuse_session_id": "s-meta"}',
        "langfuse.observation.metadata.step": "3",
        "langfuse.observation.metadata.langfuse_user_id": "u-meta",
        "langfuse.observation.metadata.flags": '["beta"]',
    }))

    assert step.metadata == {"plan": "pro", "langfuse_session_id": "s-meta", "step": "3",
                             "langfuse_user_id": "u-meta", "flags": ["beta"]}
    assert (step.session_id, step.user_id) == ("s-meta", "u-meta")


def test_langfuse_error_level_marks_the_step_failed_with_the_status_message():
    step = normalize(span({**GENERATION, "langfuse.observation.level": "ERROR",
                           "langfuse.observation.status_message": "upstream 529 overloaded"}))

    assert (step.is_error, step.error_message) == (True, "upstream 529 overloaded")


def test_langfuse_span_status_message_outranks_the_langfuse_status_message():
    step = normalize(span({"langfuse.observation.status_message": "overloaded"}, status_code=STATUS_ERROR,
                          status_message="AnthropicError: overloaded_error"))

    assert (step.is_error, step.error_message) == (True, "AnthropicError: overloaded_error")


def test_langfuse_warning_level_is_not_an_error_and_stays_unmapped():
    step = normalize(span({"langfuse.observation.level": "WARNING", "langfuse.observation.status_message": "slow"}))

    assert step.is_error is False
    assert step.unmapped == {"langfuse.observation.level": "WARNING", "langfuse.observation.status_message": "slow"}


def test_langfuse_environment_outranks_the_resource_deployment_environment():
    step = normalize(span({"langfuse.environment": "staging"}, resource={"deployment.environment.name": "prod"}))

    assert step.environment == "staging"
