"""Pydantic AI / Logfire: agent, model-request and tool spans across instrumentation versions."""
import json
from decimal import Decimal

from tracing.conventions import normalize
from tracing.spans import SpanRecord


def span(attributes=None, *, name="chat gpt-4o", kind=3, scope="pydantic-ai"):
    return SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_span_id=None,
        name=name, kind=kind, start_ns=1, end_ns=2, attributes=dict(attributes or {}), scope_name=scope,
    )


INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                     "arguments": {"city": "Paris"}}]},
    {"role": "user", "parts": [{"type": "tool_call_response", "id": "call_1", "name": "get_weather",
                                "result": "rainy"}]},
]
OUTPUT = [{"role": "assistant", "finish_reason": "stop", "parts": [
    {"type": "thinking", "content": "The tool says rainy."}, {"type": "text", "content": "Rainy."}]}]
MODEL_REQUEST = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "server.address": "api.openai.com",
    "gen_ai.input.messages": json.dumps(INPUT),
    "gen_ai.output.messages": json.dumps(OUTPUT),
    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be terse."}]),
    "model_request_parameters": '{"function_tools": []}',
    "gen_ai.usage.input_tokens": 300,
    "gen_ai.usage.output_tokens": 40,
    "gen_ai.usage.cache_read.input_tokens": 256,
    "gen_ai.usage.details.reasoning_tokens": 12,
    "gen_ai.usage.details.input_audio_tokens": 0,
    "operation.cost": 0.00123,
    "logfire.msg": "chat gpt-4o",
    "logfire.json_schema": '{"type": "object"}',
    "logfire.span_type": "span",
    "gen_ai.agent.name": "weather_agent",
}


def test_pydantic_model_request_thinking_parts_become_reasoning():
    step = normalize(span(MODEL_REQUEST))

    assert step.kind == "llm"
    assert step.output == [{"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "reasoning", "content": "The tool says rainy."}, {"type": "text", "content": "Rainy."}]}]
    assert step.reasoning == "The tool says rainy."


def test_pydantic_tool_results_in_a_user_message_use_the_response_field():
    step = normalize(span(MODEL_REQUEST))

    assert step.input[2] == {"role": "user", "parts": [
        {"type": "tool_call_response", "id": "call_1", "name": "get_weather", "response": "rainy"}]}


def test_pydantic_model_request_usage_details_and_operation_cost_are_mapped():
    step = normalize(span(MODEL_REQUEST))

    assert (step.input_tokens, step.output_tokens, step.cache_read_tokens, step.reasoning_tokens) == (300, 40, 256, 12)
    assert step.reported_cost == Decimal("0.00123")
    assert (step.model, step.provider, step.agent_name) == ("gpt-4o-2024-08-06", "openai", "weather_agent")
    assert step.system_instructions == [{"type": "text", "content": "Be terse."}]
    assert set(step.unmapped) == {"server.address", "model_request_parameters", "logfire.json_schema",
                                  "logfire.span_type", "gen_ai.usage.details.input_audio_tokens"}


def test_pydantic_agent_span_keeps_aggregated_usage_out_of_the_step_tokens():
    step = normalize(span({
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent", "agent_name": "weather_agent",
        "gen_ai.agent.call.id": "run-1", "gen_ai.conversation.id": "conv-1", "model_name": "gpt-4o",
        "logfire.msg": "weather_agent run",
        "gen_ai.aggregated_usage.input_tokens": 900, "gen_ai.aggregated_usage.output_tokens": 120,
        "gen_ai.aggregated_usage.cache_read.input_tokens": 512,
        "gen_ai.aggregated_usage.details.reasoning_tokens": 30,
        "pydantic_ai.all_messages": json.dumps(INPUT + OUTPUT),
        "final_result": "Rainy.",
    }, name="invoke_agent weather_agent", kind=1))

    assert (step.kind, step.name, step.agent_name) == ("agent", "weather_agent", "weather_agent")
    assert step.session_id == "conv-1"
    assert (step.input_tokens, step.output_tokens, step.cache_read_tokens, step.reasoning_tokens) == (None,) * 4
    assert step.metadata["aggregated_usage"] == {"input_tokens": 900, "output_tokens": 120,
                                                 "cache_read_tokens": 512, "reasoning_tokens": 30}
    assert step.input[-1]["parts"][0] == {"type": "reasoning", "content": "The tool says rainy."}
    assert step.output == "Rainy."
    assert step.tool_calls == []  # the history repeats the LLM steps' calls; only those count
    assert set(step.unmapped) == {"gen_ai.agent.call.id"}


def test_pydantic_structured_final_result_is_decoded():
    step = normalize(span({"gen_ai.operation.name": "invoke_agent", "final_result": '{"city": "Paris", "temp_c": 14}'},
                          name="invoke_agent a", kind=1))

    assert step.output == {"city": "Paris", "temp_c": 14}


def test_pydantic_execute_tool_span_maps_the_call():
    step = normalize(span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                           "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": '{"city": "Paris"}',
                           "gen_ai.tool.call.result": "rainy", "logfire.msg": "running tool: get_weather"},
                          name="execute_tool get_weather", kind=1))

    assert (step.kind, step.name, step.tool_name, step.tool_call_id) == ("tool", "get_weather", "get_weather", "call_1")
    assert (step.tool_arguments, step.tool_result) == ({"city": "Paris"}, "rainy")


def test_pydantic_v2_running_tool_span_uses_tool_arguments_and_tool_response():
    step = normalize(span({"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_1",
                           "tool_arguments": '{"city": "Paris"}', "tool_response": "rainy",
                           "logfire.msg": "running tool: get_weather"}, name="running tool", kind=1))

    assert (step.kind, step.tool_arguments, step.tool_result) == ("tool", {"city": "Paris"}, "rainy")


def test_pydantic_v2_agent_run_span_is_an_agent():
    step = normalize(span({"agent_name": "weather_agent", "model_name": "gpt-4o", "logfire.msg": "weather_agent run"},
                          name="agent run", kind=1))

    assert (step.kind, step.agent_name, step.model) == ("agent", "weather_agent", "gpt-4o")
    assert step.name == "weather_agent run"


def test_pydantic_v1_events_attribute_gives_input_and_output_messages():
    events = [
        {"event.name": "gen_ai.system.message", "role": "system", "content": "Be terse."},
        {"event.name": "gen_ai.user.message", "role": "user", "content": "Hi", "gen_ai.message.index": 0},
        {"event.name": "gen_ai.choice", "index": 0, "message": {"role": "assistant", "content": "Hello."}},
    ]
    step = normalize(span({"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                           "events": json.dumps(events)}))

    assert step.input == [{"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
                          {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "Hello."}]}]
    assert "events" not in step.unmapped


def test_logfire_request_and_response_data_become_messages():
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    response = {"message": {"role": "assistant", "content": "Hello!"}, "usage": {"total_tokens": 9}}
    step = normalize(span({"request_data": json.dumps(request), "response_data": json.dumps(response),
                           "gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai",
                           "logfire.msg": "Chat Completion with 'gpt-4o'"},
                          name="Chat Completion with {request_data[model]!r}", scope="logfire.openai"))

    assert step.kind == "llm"
    assert step.input == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}]}]


def test_pydantic_openai_tool_call_arguments_sent_as_a_json_string_are_decoded():
    # With OpenAIChatModel, pydantic-ai keeps the provider's JSON string as the tool_call part's arguments.
    output = [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]}]
    history = [{"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]}]
    step = normalize(span({**MODEL_REQUEST, "gen_ai.output.messages": json.dumps(output),
                           "gen_ai.input.messages": json.dumps(history)}))

    assert step.tool_calls == [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert step.input[0]["parts"][0]["arguments"] == {"city": "Paris"}
    assert step.finish_reasons == ["tool_call"]
