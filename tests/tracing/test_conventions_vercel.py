"""Vercel AI SDK (`ai.*`): wrapper spans vs provider-call spans, usage semantics by version, tool calls."""
import json

from tracing.conventions import normalize
from tracing.spans import SpanRecord


def span(attributes=None, *, name="ai.generateText", kind=1):
    return SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_span_id=None,
        name=name, kind=kind, start_ns=1, end_ns=2, attributes=dict(attributes or {}), scope_name="ai",
    )


WRAPPER = {
    "operation.name": "ai.generateText weather-agent",
    "ai.operationId": "ai.generateText",
    "ai.telemetry.functionId": "weather-agent",
    "ai.telemetry.metadata.userId": "u-1",
    "ai.telemetry.metadata.sessionId": "chat-77",
    "ai.telemetry.metadata.tags": ["web", "beta"],
    "ai.model.id": "gpt-4o",
    "ai.model.provider": "openai.chat",
    "ai.prompt": json.dumps({"system": "You are a weather bot.", "prompt": "Weather in Paris?"}),
    "ai.response.text": "Rainy, 14°C.",
    "ai.response.finishReason": "stop",
    "ai.usage.promptTokens": 850,
    "ai.usage.completionTokens": 60,
    "ai.settings.maxRetries": 2,
}
PROMPT_MESSAGES = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
    {"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "call_1", "toolName": "weather",
                                       "args": {"city": "Paris"}}]},
    {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "call_1", "toolName": "weather",
                                  "result": {"temp_c": 14}}]},
]
DO_GENERATE = {
    "operation.name": "ai.generateText.doGenerate weather-agent",
    "ai.operationId": "ai.generateText.doGenerate",
    "ai.telemetry.functionId": "weather-agent",
    "ai.model.id": "gpt-4o",
    "ai.model.provider": "openai.chat",
    "ai.prompt.messages": json.dumps(PROMPT_MESSAGES),
    "ai.prompt.tools": [json.dumps({"type": "function", "name": "weather", "description": "Weather for a city",
                                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}})],
    "ai.prompt.toolChoice": '{"type":"auto"}',
    "ai.response.text": "Rainy, 14°C.",
    "ai.response.toolCalls": json.dumps([{"toolCallType": "function", "toolCallId": "call_2", "toolName": "forecast",
                                          "args": '{"city":"Paris","days":3}'}]),
    "ai.response.finishReason": "tool-calls",
    "ai.response.id": "chatcmpl-5",
    "ai.response.model": "gpt-4o-2024-08-06",
    "ai.usage.promptTokens": 850,
    "ai.usage.completionTokens": 60,
    "gen_ai.system": "openai.chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.finish_reasons": ["tool-calls"],
    "gen_ai.usage.input_tokens": 850,
    "gen_ai.usage.output_tokens": 60,
}


def test_vercel_generate_text_wrapper_is_an_agent_step_without_tokens():
    step = normalize(span(WRAPPER))

    assert (step.kind, step.operation, step.convention) == ("agent", "generateText", "vercel")
    assert (step.input_tokens, step.output_tokens, step.cache_read_tokens, step.reasoning_tokens) == (None,) * 4
    assert step.metadata["aggregated_usage"] == {"input_tokens": 850, "output_tokens": 60}
    assert step.tool_calls == []


def test_vercel_wrapper_maps_name_prompt_and_telemetry_metadata():
    step = normalize(span(WRAPPER))

    assert step.name == "weather-agent:ai.generateText"
    assert (step.session_id, step.user_id, step.tags) == ("chat-77", "u-1", ["web", "beta"])
    assert step.input == [{"role": "system", "parts": [{"type": "text", "content": "You are a weather bot."}]},
                          {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "Rainy, 14°C."}],
                            "finish_reason": "stop"}]
    assert set(step.unmapped) == {"operation.name", "ai.settings.maxRetries"}


def test_vercel_do_generate_is_the_llm_call_with_tokens_and_messages():
    step = normalize(span(DO_GENERATE, name="ai.generateText.doGenerate", kind=3))

    assert (step.kind, step.operation, step.provider) == ("llm", "doGenerate", "openai")
    assert (step.model, step.request_model) == ("gpt-4o-2024-08-06", "gpt-4o")
    assert (step.input_tokens, step.output_tokens) == (850, 60)
    assert step.input[2:] == [
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "name": "weather",
                                    "response": {"temp_c": 14}}]},
    ]
    assert step.tool_calls == [{"id": "call_2", "name": "forecast", "arguments": {"city": "Paris", "days": 3}}]
    assert step.finish_reasons == ["tool_call"]
    assert step.tool_definitions == [{"type": "function", "name": "weather", "description": "Weather for a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def test_vercel_stream_text_do_stream_is_an_llm_call():
    step = normalize(span({"ai.operationId": "ai.streamText.doStream", "ai.model.id": "claude-sonnet-4-5",
                           "ai.model.provider": "anthropic.messages", "ai.usage.inputTokens": 12,
                           "ai.usage.outputTokens": 7}, name="ai.streamText.doStream"))

    assert (step.kind, step.provider, step.input_tokens, step.output_tokens) == ("llm", "anthropic", 12, 7)


def test_vercel_v5_anthropic_prompt_tokens_are_made_cache_inclusive():
    step = normalize(span({
        "ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "claude-sonnet-4-5",
        "ai.model.provider": "anthropic.messages", "ai.usage.promptTokens": 10, "ai.usage.completionTokens": 80,
        "ai.usage.cachedInputTokens": 1000,
        "ai.response.providerMetadata": json.dumps({"anthropic": {"cacheCreationInputTokens": 200}}),
        "gen_ai.system": "anthropic.messages", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 80,
    }, name="ai.generateText.doGenerate"))

    assert (step.input_tokens, step.cache_read_tokens, step.cache_write_tokens) == (1210, 1000, 200)


def test_vercel_v5_openai_prompt_tokens_already_include_the_cache():
    step = normalize(span({"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o",
                           "ai.model.provider": "openai.responses", "ai.usage.promptTokens": 1500,
                           "ai.usage.cachedInputTokens": 1024, "ai.usage.completionTokens": 20}))

    assert (step.input_tokens, step.cache_read_tokens) == (1500, 1024)


def test_vercel_v6_input_token_details_are_summed_into_the_total():
    step = normalize(span({
        "ai.operationId": "ai.streamText.doStream", "ai.model.id": "claude-sonnet-4-5",
        "ai.model.provider": "anthropic.messages", "ai.usage.inputTokens": 10,
        "ai.usage.inputTokenDetails.noCacheTokens": 10, "ai.usage.inputTokenDetails.cacheReadTokens": 900,
        "ai.usage.inputTokenDetails.cacheWriteTokens": 90, "ai.usage.outputTokens": 50,
        "ai.usage.outputTokenDetails.reasoningTokens": 20, "ai.usage.outputTokenDetails.textTokens": 30,
        "ai.usage.totalTokens": 1050,
    }))

    assert (step.input_tokens, step.cache_read_tokens, step.cache_write_tokens) == (1000, 900, 90)
    assert (step.output_tokens, step.reasoning_tokens) == (50, 20)
    assert set(step.unmapped) == {"ai.usage.outputTokenDetails.textTokens", "ai.usage.totalTokens"}


def test_vercel_v6_input_tokens_are_cache_inclusive():
    step = normalize(span({"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-5",
                           "ai.model.provider": "openai.responses", "ai.usage.inputTokens": 2000,
                           "ai.usage.cachedInputTokens": 1500, "ai.usage.outputTokens": 10}))

    assert (step.input_tokens, step.cache_read_tokens) == (2000, 1500)


def test_vercel_v6_reasoning_text_becomes_a_reasoning_part():
    step = normalize(span({"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "o3",
                           "ai.response.reasoning": "Compare both routes.", "ai.response.text": "Take the train."}))

    assert step.output[0]["parts"] == [{"type": "reasoning", "content": "Compare both routes."},
                                       {"type": "text", "content": "Take the train."}]
    assert step.reasoning == "Compare both routes."


def test_vercel_v3_result_keys_are_read():
    step = normalize(span({"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4-turbo",
                           "ai.result.text": "Hi", "ai.finishReason": "stop",
                           "ai.result.toolCalls": '[{"toolCallId": "c", "toolName": "t", "args": {}}]'}))

    assert step.output == [{"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "text", "content": "Hi"}, {"type": "tool_call", "id": "c", "name": "t", "arguments": {}}]}]


def test_vercel_v5_tool_calls_with_input_field_are_read():
    step = normalize(span({"ai.operationId": "ai.streamText.doStream", "ai.model.id": "gpt-4o",
                           "ai.response.toolCalls": '[{"toolCallId": "c", "toolName": "t", "input": "{\\"a\\": 1}"}]'}))

    assert step.tool_calls == [{"id": "c", "name": "t", "arguments": {"a": 1}}]


def test_vercel_tool_call_span_maps_the_call():
    step = normalize(span({"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather", "ai.toolCall.id": "call_1",
                           "ai.toolCall.args": '{"city": "Paris"}', "ai.toolCall.result": '{"temp_c": 14}',
                           "operation.name": "ai.toolCall weather-agent"}, name="ai.toolCall"))

    assert (step.kind, step.name, step.tool_name, step.tool_call_id) == ("tool", "weather", "weather", "call_1")
    assert (step.tool_arguments, step.tool_result) == ({"city": "Paris"}, {"temp_c": 14})


def test_vercel_embed_many_wrapper_has_no_tokens_and_do_embed_has_them():
    common = {"ai.model.id": "text-embedding-3-small", "ai.model.provider": "openai.embedding",
              "ai.values": ['"sunny day"', '"rainy day"'], "ai.usage.tokens": 6}
    wrapper = normalize(span({**common, "ai.operationId": "ai.embedMany"}, name="ai.embedMany"))
    call = normalize(span({**common, "ai.operationId": "ai.embedMany.doEmbed",
                           "ai.embeddings": ["[0.1, 0.2]", "[0.3, 0.4]"]}, name="ai.embedMany.doEmbed"))

    assert (wrapper.kind, wrapper.input_tokens) == ("other", None)
    assert (call.kind, call.input_tokens) == ("embedding", 6)
    assert call.input == ["sunny day", "rainy day"]
    assert call.output == [[0.1, 0.2], [0.3, 0.4]]


def test_vercel_provider_strings_become_canonical_provider_names():
    def provider(raw):
        return normalize(span({"ai.operationId": "ai.generateText.doGenerate", "ai.model.provider": raw})).provider

    assert provider("google.vertex.chat") == "gcp.vertex_ai"
    assert provider("google.generative-ai") == "gcp.gemini"
    assert provider("amazon-bedrock") == "aws.bedrock"
    assert provider("xai.chat") == "x_ai"
    assert provider("mistral.chat") == "mistral_ai"
