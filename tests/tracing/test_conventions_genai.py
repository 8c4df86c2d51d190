"""OpenTelemetry GenAI conventions: current attributes, older attributes and the event forms."""
import json
from decimal import Decimal

import pytest

from tracing.conventions import normalize
from tracing.spans import STATUS_ERROR, SpanEvent, SpanRecord


def span(attributes=None, *, name="chat gpt-4o", events=(), status_code=0, status_message="", kind=3):
    return SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_span_id=None,
        name=name, kind=kind, start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_001_000_000_000,
        status_code=status_code, status_message=status_message,
        attributes=dict(attributes or {}), events=list(events), scope_name="opentelemetry.instrumentation.openai_v2",
    )


INPUT_MESSAGES = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                     "arguments": {"location": "Paris"}}]},
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy, 57°F"}]},
]
OUTPUT_MESSAGES = [
    {"role": "assistant", "parts": [{"type": "reasoning", "content": "The tool said rainy."},
                                    {"type": "text", "content": "It is rainy."}], "finish_reason": "stop"},
]
CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.request.temperature": 0.2,
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 180,
    "gen_ai.usage.cache_read.input_tokens": 50,
    "gen_ai.usage.reasoning.output_tokens": 50,
    "gen_ai.input.messages": json.dumps(INPUT_MESSAGES),
    "gen_ai.output.messages": json.dumps(OUTPUT_MESSAGES),
    "server.address": "api.openai.com",
    "server.port": 443,
}


def test_genai_chat_span_maps_identity_tokens_and_messages():
    step = normalize(span(CHAT))

    assert (step.kind, step.operation, step.convention) == ("llm", "chat", "genai")
    assert (step.model, step.request_model, step.provider) == ("gpt-4o-2024-08-06", "gpt-4o", "openai")
    assert (step.input_tokens, step.output_tokens) == (100, 180)
    assert (step.cache_read_tokens, step.cache_write_tokens, step.reasoning_tokens) == (50, None, 50)
    assert step.input == INPUT_MESSAGES
    assert step.output == OUTPUT_MESSAGES
    assert step.reasoning == "The tool said rainy."
    assert step.finish_reasons == ["stop"]
    assert step.tool_calls == []


def test_genai_attributes_without_a_step_field_stay_unmapped_verbatim():
    step = normalize(span(CHAT))

    assert step.unmapped == {
        "gen_ai.response.id": "chatcmpl-123",
        "gen_ai.request.temperature": 0.2,
        "server.address": "api.openai.com",
        "server.port": 443,
    }


def test_genai_requested_tool_calls_are_listed_with_arguments_parsed_from_json():
    output = [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "id": "call_9", "name": "get_weather", "arguments": '{"location": "Oslo"}'},
        {"type": "tool_call", "id": "call_10", "name": "noop", "arguments": "not json"},
    ]}]
    step = normalize(span({**CHAT, "gen_ai.output.messages": json.dumps(output),
                           "gen_ai.response.finish_reasons": ["tool_calls"]}))

    assert step.tool_calls == [
        {"id": "call_9", "name": "get_weather", "arguments": {"location": "Oslo"}},
        {"id": "call_10", "name": "noop", "arguments": "not json"},
    ]
    assert step.output[0]["parts"][0] == {"type": "tool_call", "id": "call_9", "name": "get_weather",
                                          "arguments": {"location": "Oslo"}}
    assert step.finish_reasons == ["tool_call"]
    assert step.output[0]["finish_reason"] == "tool_call"


def test_genai_structured_message_values_are_read_like_json_strings():
    step = normalize(span({**CHAT, "gen_ai.input.messages": INPUT_MESSAGES, "gen_ai.output.messages": OUTPUT_MESSAGES}))

    assert step.input == INPUT_MESSAGES
    assert step.output == OUTPUT_MESSAGES


def test_genai_finish_reason_comes_from_output_messages_when_the_span_attribute_is_absent():
    attributes = {k: v for k, v in CHAT.items() if k != "gen_ai.response.finish_reasons"}
    assert normalize(span(attributes)).finish_reasons == ["stop"]


def test_genai_cache_write_reads_the_newest_name_before_cache_creation():
    both = normalize(span({**CHAT, "gen_ai.usage.cache_write.input_tokens": 7,
                           "gen_ai.usage.cache_creation.input_tokens": 9}))
    creation_only = normalize(span({**CHAT, "gen_ai.usage.cache_creation.input_tokens": 9}))

    assert both.cache_write_tokens == 7
    assert creation_only.cache_write_tokens == 9


def test_genai_v126_prompt_and_completion_token_names_are_read():
    step = normalize(span({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4",
                           "gen_ai.usage.prompt_tokens": 12, "gen_ai.usage.completion_tokens": 3}))

    assert (step.kind, step.input_tokens, step.output_tokens) == ("llm", 12, 3)


def test_genai_tokens_stay_none_when_not_reported():
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}))

    assert (step.input_tokens, step.output_tokens, step.cache_read_tokens, step.cache_write_tokens,
            step.reasoning_tokens, step.reported_cost) == (None,) * 6


def test_genai_reported_zero_tokens_stay_zero():
    step = normalize(span({**CHAT, "gen_ai.usage.output_tokens": 0, "gen_ai.usage.reasoning.output_tokens": 0}))

    assert (step.output_tokens, step.reasoning_tokens) == (0, 0)


def test_genai_usage_cost_is_a_reported_decimal():
    assert normalize(span({**CHAT, "gen_ai.usage.cost": 0.0123})).reported_cost == Decimal("0.0123")


def test_genai_input_smaller_than_its_cache_is_made_cache_inclusive():
    # A non-compliant Anthropic instrumentation passing raw (cache-exclusive) input_tokens.
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                           "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 12,
                           "gen_ai.usage.cache_read.input_tokens": 3000,
                           "gen_ai.usage.cache_creation.input_tokens": 500, "gen_ai.usage.output_tokens": 40}))

    assert (step.input_tokens, step.cache_read_tokens, step.cache_write_tokens) == (3512, 3000, 500)


def test_genai_system_instructions_and_tool_definitions_are_kept():
    tools = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
              "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}]
    step = normalize(span({**CHAT, "gen_ai.system_instructions": '[{"type":"text","content":"You are a translator."}]',
                           "gen_ai.tool.definitions": json.dumps(tools)}))

    assert step.system_instructions == [{"type": "text", "content": "You are a translator."}]
    assert step.tool_definitions == tools


def test_genai_system_instructions_fall_back_to_the_system_message_in_the_history():
    messages = [{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    step = normalize(span({**CHAT, "gen_ai.input.messages": json.dumps(messages)}))

    assert step.system_instructions == [{"type": "text", "content": "Be brief."}]
    assert step.input == messages


def test_genai_unknown_and_media_parts_are_kept_as_received():
    parts = [{"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
             {"type": "server_tool_call", "id": "ws_1", "name": "web_search",
              "server_tool_call": {"type": "web_search", "query": "otel"}},
             {"type": "refusal", "content": "I can't help with that."}]
    step = normalize(span({**CHAT, "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": parts}])}))

    assert step.output[0]["parts"] == parts
    assert step.tool_calls == []  # provider-executed tools are not requests to the agent


def test_genai_per_message_events_build_the_input_and_choices_build_the_output():
    events = [
        SpanEvent("gen_ai.system.message", 1, {"gen_ai.system": "openai", "content": "You are terse."}),
        SpanEvent("gen_ai.user.message", 2, {"gen_ai.system": "openai", "content": "Weather in Paris?"}),
        SpanEvent("gen_ai.assistant.message", 3, {"gen_ai.system": "openai", "tool_calls": json.dumps([
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}])}),
        SpanEvent("gen_ai.tool.message", 4, {"gen_ai.system": "openai", "content": "rainy", "id": "call_1"}),
        SpanEvent("gen_ai.choice", 5, {"gen_ai.system": "openai", "index": 0, "finish_reason": "stop",
                                       "message": json.dumps({"content": "It is rainy."})}),
    ]
    step = normalize(span({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                           "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 5}, events=events))

    assert step.kind == "llm"
    assert step.input == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy"}]},
    ]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "It is rainy."}],
                            "finish_reason": "stop"}]
    assert step.finish_reasons == ["stop"]


def test_genai_choice_events_are_ordered_by_index_and_tool_calls_beside_message_are_read():
    events = [
        SpanEvent("gen_ai.choice", 1, {"body": json.dumps({"index": 1, "finish_reason": "stop",
                                                           "message": {"content": "second"}})}),
        SpanEvent("gen_ai.choice", 2, {"body": {"index": 0, "finish_reason": "tool_calls", "message": {},
                                                "tool_calls": [{"id": "c1", "type": "function", "function": {
                                                    "name": "lookup", "arguments": "{}"}}]}}),
    ]
    step = normalize(span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.output_tokens": 9}, events=events))

    assert [m["finish_reason"] for m in step.output] == ["tool_call", "stop"]
    assert step.tool_calls == [{"id": "c1", "name": "lookup", "arguments": {}}]


def test_genai_v126_content_events_hold_openai_style_messages():
    events = [
        SpanEvent("gen_ai.content.prompt", 1, {"gen_ai.prompt": '[{"role": "user", "content": "Say hi"}]'}),
        SpanEvent("gen_ai.content.completion", 2, {"gen_ai.completion": '[{"role": "assistant", "content": "hi"}]'}),
    ]
    step = normalize(span({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4"}, events=events))

    assert step.input == [{"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "hi"}]}]


def test_genai_v126_prompt_and_completion_attributes_are_read_and_consumed():
    step = normalize(span({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4",
                           "gen_ai.prompt": '[{"role": "user", "content": "Say hi"}]',
                           "gen_ai.completion": '[{"role": "assistant", "content": "hi"}]'}))

    assert step.input[0]["parts"] == [{"type": "text", "content": "Say hi"}]
    assert step.output[0]["parts"] == [{"type": "text", "content": "hi"}]
    assert step.unmapped == {}


def test_genai_operation_details_event_supplies_what_the_span_lacks():
    details = {"gen_ai.input.messages": INPUT_MESSAGES[:1], "gen_ai.output.messages": OUTPUT_MESSAGES,
               "gen_ai.usage.input_tokens": 11, "gen_ai.response.model": "gpt-4o-mini-2024-07-18"}
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
                          events=[SpanEvent("gen_ai.client.inference.operation.details", 1, details)]))

    assert step.input == INPUT_MESSAGES[:1]
    assert step.output == OUTPUT_MESSAGES
    assert step.input_tokens == 11
    assert step.model == "gpt-4o-mini-2024-07-18"  # the event's response model, as if on the span


def test_genai_execute_tool_span_maps_the_tool_call():
    step = normalize(span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                           "gen_ai.tool.call.id": "call_mszu", "gen_ai.tool.type": "function",
                           "gen_ai.tool.call.arguments": '{"location": "Paris"}',
                           "gen_ai.tool.call.result": '{"conditions": "sunny"}'},
                          name="execute_tool get_weather", kind=1))

    assert (step.kind, step.name, step.tool_name) == ("tool", "get_weather", "get_weather")
    assert step.tool_call_id == "call_mszu"
    assert step.tool_arguments == {"location": "Paris"}
    assert step.tool_result == {"conditions": "sunny"}
    assert step.unmapped == {"gen_ai.tool.type": "function"}


def test_genai_tool_keys_without_operation_name_still_make_a_tool_step():
    step = normalize(span({"gen_ai.tool.name": "search", "gen_ai.tool.call.id": "c1"}, name="running tool"))

    assert (step.kind, step.tool_name) == ("tool", "search")


def test_genai_invoke_agent_span_is_named_after_the_agent():
    step = normalize(span({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Math Tutor",
                           "gen_ai.agent.id": "asst_5j66", "gen_ai.conversation.id": "conv_5j66"},
                          name="invoke_agent Math Tutor", kind=1))

    assert (step.kind, step.name, step.agent_name) == ("agent", "Math Tutor", "Math Tutor")
    assert step.session_id == "conv_5j66"
    assert step.unmapped == {"gen_ai.agent.id": "asst_5j66"}


def test_genai_agent_name_on_a_child_llm_span_does_not_rename_it():
    step = normalize(span({**CHAT, "gen_ai.agent.name": "Math Tutor"}))

    assert (step.name, step.agent_name) == ("chat gpt-4o", "Math Tutor")


@pytest.mark.parametrize("operation, kind", [
    ("text_completion", "llm"), ("generate_content", "llm"), ("embeddings", "embedding"),
    ("retrieval", "retrieval"), ("search_memory", "retrieval"), ("invoke_workflow", "agent"),
    ("create_agent", "other"), ("plan", "other"), ("upsert_memory", "other"), ("fetch_response", "other"),
    ("completion", "llm"), ("agent_step", "agent"), ("vector_db_retrieve", "retrieval"),
])
def test_genai_operation_names_map_to_kinds(operation, kind):
    assert normalize(span({"gen_ai.operation.name": operation})).kind == kind


def test_genai_retrieval_span_maps_query_and_documents():
    documents = [{"id": "doc-1", "score": 0.91}, {"id": "doc-2", "score": 0.42}]
    step = normalize(span({"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "H7STPQYOND",
                           "gen_ai.retrieval.query.text": "refund policy",
                           "gen_ai.retrieval.documents": json.dumps(documents)}, name="retrieval H7STPQYOND"))

    assert (step.kind, step.input, step.output) == ("retrieval", "refund policy", documents)


@pytest.mark.parametrize("system, provider", [
    ("Anthropic", "anthropic"), ("AWS", "aws.bedrock"), ("az.ai.openai", "azure.ai.openai"),
    ("Azure", "azure.ai.openai"), ("az.ai.inference", "azure.ai.inference"), ("xai", "x_ai"),
    ("vertex_ai", "gcp.vertex_ai"), ("gemini", "gcp.gemini"), ("Google", "gcp.gen_ai"),
    ("MistralAI", "mistral_ai"), ("Watsonx", "ibm.watsonx.ai"), ("openai", "openai"), ("my-gateway", "my-gateway"),
])
def test_genai_legacy_system_spellings_become_canonical_provider_names(system, provider):
    assert normalize(span({"gen_ai.system": system, "gen_ai.request.model": "m"})).provider == provider


def test_genai_provider_name_wins_over_the_deprecated_system():
    step = normalize(span({"gen_ai.provider.name": "azure.ai.openai", "gen_ai.system": "openai"}))

    assert step.provider == "azure.ai.openai"


def test_genai_provider_is_inferred_from_server_address_when_not_reported():
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.request.model": "my-finetune",
                           "server.address": "my-resource.openai.azure.com"}))

    assert step.provider == "azure.ai.openai"
    assert "server.address" in step.unmapped


def test_genai_error_type_and_status_mark_the_step_failed():
    step = normalize(span({**CHAT, "error.type": "timeout"}, status_code=STATUS_ERROR,
                          status_message="Request timed out"))

    assert (step.is_error, step.error_type, step.error_message) == (True, "timeout", "Request timed out")


def test_genai_prompt_template_keys_are_not_taken_for_openllmetry_content():
    step = normalize(span({**CHAT, "gen_ai.prompt.name": "analyze-code", "gen_ai.prompt.version": "3",
                           "gen_ai.prompt.variable.language": "python"}))

    assert step.input == INPUT_MESSAGES
    assert {"gen_ai.prompt.name", "gen_ai.prompt.version", "gen_ai.prompt.variable.language"} <= set(step.unmapped)


def test_genai_messages_that_are_not_valid_json_stay_unmapped_verbatim():
    step = normalize(span({**CHAT, "gen_ai.input.messages": '[{"role": "user", "parts": [', }))

    assert step.input is None
    assert step.unmapped["gen_ai.input.messages"] == '[{"role": "user", "parts": ['


@pytest.mark.parametrize("stop_reason, finish", [("tool_use", "tool_call"), ("end_turn", "stop"),
                                                 ("max_tokens", "length")])
def test_genai_anthropic_sdk_native_stop_reason_is_the_finish_reason(stop_reason, finish):
    # anthropic>=2 native tracing (scope com.anthropic.sdk.python) has no gen_ai.response.finish_reasons.
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                           "gen_ai.request.model": "claude-sonnet-4-5", "anthropic.message.stop_reason": stop_reason},
                          name="anthropic.messages.create"))

    assert step.finish_reasons == [finish]
    assert "anthropic.message.stop_reason" not in step.unmapped


def test_genai_finish_reasons_attribute_outranks_the_anthropic_stop_reason():
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.response.finish_reasons": ["length"],
                           "anthropic.message.stop_reason": "end_turn"}))

    assert step.finish_reasons == ["length"]


def test_genai_cache_write_newest_name_is_read():
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 1230,
                           "gen_ai.usage.cache_read.input_tokens": 1024,
                           "gen_ai.usage.cache_write.input_tokens": 180}))

    assert (step.input_tokens, step.cache_read_tokens, step.cache_write_tokens) == (1230, 1024, 180)
