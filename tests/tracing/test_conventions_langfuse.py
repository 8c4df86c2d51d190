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


# --- usage_details as integrations send it (tests/fixtures/otlp: langfuse*-openai, langfuse*-anthropic-manual) ---

OPENAI_CHAT_USAGE = {  # langfuse.openai passes OpenAI's raw usage object through, nested
    "completion_tokens": 85, "prompt_tokens": 1200, "total_tokens": 1285,
    "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0, "reasoning_tokens": 64,
                                  "rejected_prediction_tokens": 0},
    "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 1024},
}


def usage_step(usage):
    return normalize(span({"langfuse.observation.type": "generation", "langfuse.observation.model.name": "o4-mini",
                           "langfuse.observation.usage_details": json.dumps(usage)}))


def tokens(step):
    return (step.input_tokens, step.output_tokens, step.cache_read_tokens, step.cache_write_tokens,
            step.reasoning_tokens)


def test_langfuse_raw_nested_openai_usage_keeps_openai_semantics():
    step = usage_step(OPENAI_CHAT_USAGE)

    assert tokens(step) == (1200, 85, 1024, None, 64)  # prompt_tokens is cache-inclusive already
    assert "langfuse.observation.usage_details" not in step.unmapped


def test_langfuse_raw_openai_usage_reported_zero_cache_is_zero_not_absent():
    usage = {**OPENAI_CHAT_USAGE, "prompt_tokens_details": {"cached_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0}}

    assert tokens(usage_step(usage)) == (1200, 85, 0, None, 0)


def test_langfuse_raw_openai_responses_usage_is_cache_inclusive():
    usage = {"input_tokens": 1200, "output_tokens": 85, "total_tokens": 1285,
             "input_tokens_details": {"cached_tokens": 1024}, "output_tokens_details": {"reasoning_tokens": 64}}

    assert tokens(usage_step(usage)) == (1200, 85, 1024, None, 64)


def test_langfuse_raw_anthropic_usage_adds_the_cache_back():
    usage = {"input_tokens": 26, "output_tokens": 96, "cache_read_input_tokens": 1024,
             "cache_creation_input_tokens": 180}

    assert tokens(usage_step(usage)) == (1230, 96, 1024, 180, None)


def test_langfuse_own_cache_exclusive_input_with_anthropic_cache_keys():
    usage = {"input": 26, "output": 96, "cache_read_input_tokens": 1024, "cache_creation_input_tokens": 180}

    assert tokens(usage_step(usage)) == (1230, 96, 1024, 180, None)


def test_langfuse_output_as_a_raw_anthropic_content_block_list_becomes_one_assistant_message():
    blocks = [{"signature": "c2ln", "thinking": "Call the tool.", "type": "thinking"},
              {"text": "Let me check.", "type": "text"},
              {"id": "toolu_1", "input": {"city": "Paris"}, "name": "get_weather", "type": "tool_use"}]
    step = normalize(span({**GENERATION, "langfuse.observation.output": json.dumps(blocks)}))

    assert step.output == [{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "Call the tool."}, {"type": "text", "content": "Let me check."},
        {"type": "tool_call", "id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}]}]
    assert step.tool_calls == [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert step.reasoning == "Call the tool."


def test_langfuse_list_of_untyped_values_as_output_is_kept_as_received():
    step = normalize(span({**GENERATION, "langfuse.observation.output": '[{"score": 1}, {"score": 2}]'}))

    assert step.output == [{"score": 1}, {"score": 2}]


@pytest.mark.parametrize("recorded, arguments", [
    ({"args": [], "kwargs": {"city": "Paris"}}, {"city": "Paris"}),  # @observe(as_type="tool")
    ({"args": ["Paris"], "kwargs": {}}, "Paris"),
    ({"city": "Paris"}, {"city": "Paris"}),  # start_as_current_observation(input=...)
])
def test_langfuse_tool_observe_envelope_is_unwrapped_to_the_call_arguments(recorded, arguments):
    step = normalize(span({"langfuse.observation.type": "tool", "langfuse.observation.input": json.dumps(recorded)},
                          name="get_weather"))

    assert (step.kind, step.tool_arguments) == ("tool", arguments)


def test_langfuse_observe_envelope_on_an_agent_stays_its_input():
    recorded = {"args": ["What's the weather?"], "kwargs": {}}
    step = normalize(span({"langfuse.observation.type": "agent", "langfuse.observation.input": json.dumps(recorded)}))

    assert step.input == recorded
