"""OpenLLMetry / Traceloop: legacy flattened prompts/completions, llm.* usage, 0.5 shape, entity spans."""
import json

from tracing.conventions import normalize
from tracing.spans import SpanEvent, SpanRecord


def span(attributes=None, *, name="openai.chat", events=(), kind=3):
    return SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_span_id=None,
        name=name, kind=kind, start_ns=1, end_ns=2, attributes=dict(attributes or {}), events=list(events),
        scope_name="opentelemetry.instrumentation.openai.v1",
    )


LEGACY_CHAT = {
    "llm.request.type": "chat",
    "gen_ai.system": "OpenAI",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-9",
    "gen_ai.request.temperature": 0.0,
    "llm.is_streaming": False,
    "llm.headers": "None",
    "gen_ai.openai.api_base": "https://api.openai.com/v1/",
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "You book flights.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": "Book LIS to OSL on Friday.",
    "gen_ai.prompt.2.role": "assistant",
    "gen_ai.prompt.2.tool_calls.0.id": "call_a",
    "gen_ai.prompt.2.tool_calls.0.name": "search_flights",
    "gen_ai.prompt.2.tool_calls.0.arguments": '{"origin": "LIS", "destination": "OSL"}',
    "gen_ai.prompt.3.role": "tool",
    "gen_ai.prompt.3.tool_call_id": "call_a",
    "gen_ai.prompt.3.content": '[{"id": "TP1234"}]',
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.finish_reason": "tool_calls",
    "gen_ai.completion.0.tool_calls.0.id": "call_b",
    "gen_ai.completion.0.tool_calls.0.name": "book_flight",
    "gen_ai.completion.0.tool_calls.0.arguments": '{"flight_id": "TP1234"}',
    "gen_ai.usage.prompt_tokens": 820,
    "gen_ai.usage.completion_tokens": 25,
    "llm.usage.total_tokens": 845,
    "gen_ai.usage.cache_read_input_tokens": 512,
    "llm.usage.reasoning_tokens": 0,
    "llm.request.functions.0.name": "book_flight",
    "llm.request.functions.0.description": "Book a flight by id",
    "llm.request.functions.0.parameters": '{"type": "object", "properties": {"flight_id": {"type": "string"}}}',
    "traceloop.workflow.name": "travel_agent",
    "traceloop.association.properties.user_id": "u-17",
    "traceloop.association.properties.session_id": "s-3",
    "traceloop.association.properties.customer_id": "acme",
}


def test_openllmetry_legacy_chat_span_unflattens_prompts_and_completions():
    step = normalize(span(LEGACY_CHAT))

    assert (step.kind, step.operation, step.provider) == ("llm", "chat", "openai")
    assert (step.model, step.request_model) == ("gpt-4o-2024-08-06", "gpt-4o")
    assert step.input == [
        {"role": "system", "parts": [{"type": "text", "content": "You book flights."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Book LIS to OSL on Friday."}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_a", "name": "search_flights",
                                         "arguments": {"origin": "LIS", "destination": "OSL"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_a", "response": [{"id": "TP1234"}]}]},
    ]
    assert step.output == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "tool_call", "id": "call_b", "name": "book_flight", "arguments": {"flight_id": "TP1234"}}]}]
    assert step.tool_calls == [{"id": "call_b", "name": "book_flight", "arguments": {"flight_id": "TP1234"}}]
    assert step.finish_reasons == ["tool_call"]


def test_openllmetry_legacy_usage_and_tool_definitions_are_mapped():
    step = normalize(span(LEGACY_CHAT))

    assert (step.input_tokens, step.output_tokens, step.cache_read_tokens, step.reasoning_tokens) == (820, 25, 512, 0)
    assert step.tool_definitions == [{
        "type": "function", "name": "book_flight", "description": "Book a flight by id",
        "parameters": {"type": "object", "properties": {"flight_id": {"type": "string"}}},
    }]


def test_openllmetry_association_properties_give_session_user_and_metadata():
    step = normalize(span(LEGACY_CHAT))

    assert (step.session_id, step.user_id) == ("s-3", "u-17")
    assert step.metadata == {"user_id": "u-17", "session_id": "s-3", "customer_id": "acme"}
    assert set(step.unmapped) == {"gen_ai.response.id", "gen_ai.request.temperature", "llm.is_streaming",
                                  "llm.headers", "gen_ai.openai.api_base", "llm.usage.total_tokens",
                                  "traceloop.workflow.name"}


def test_openllmetry_anthropic_thinking_completion_becomes_reasoning():
    step = normalize(span({
        "llm.request.type": "completion", "gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-3-7-sonnet",
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "17 * 23?",
        "gen_ai.completion.0.role": "thinking", "gen_ai.completion.0.content": "17*23 = 391.",
        "gen_ai.completion.1.role": "assistant", "gen_ai.completion.1.content": "391",
        "gen_ai.completion.1.finish_reason": "end_turn",
        "gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_creation_input_tokens": 0,
    }, name="anthropic.chat"))

    assert (step.kind, step.provider, step.cache_write_tokens) == ("llm", "anthropic", 0)
    assert step.output == [{"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "reasoning", "content": "17*23 = 391."}, {"type": "text", "content": "391"}]}]
    assert step.reasoning == "17*23 = 391."


def test_openllmetry_multimodal_prompt_content_json_is_parsed_into_parts():
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]
    step = normalize(span({"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                           "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": json.dumps(content)}))

    assert step.input[0]["parts"] == [{"type": "text", "content": "What is this?"},
                                      {"type": "uri", "modality": "image", "uri": "https://example.com/x.png"}]


def test_openllmetry_plain_text_that_looks_like_json_stays_text():
    step = normalize(span({"llm.request.type": "chat", "gen_ai.request.model": "gpt-4o",
                           "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "[1, 2, 3] sorted?"}))

    assert step.input[0]["parts"] == [{"type": "text", "content": "[1, 2, 3] sorted?"}]


def test_openllmetry_stop_reason_is_used_when_no_finish_reason_is_reported():
    step = normalize(span({"llm.request.type": "chat", "gen_ai.system": "anthropic",
                           "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.stop_reason": "end_turn"}))

    assert step.finish_reasons == ["stop"]


def test_openllmetry_05_shape_reads_genai_keys_plus_project_keys():
    output = [{"role": "assistant", "finish_reason": "stop",
               "parts": [{"type": "refusal", "content": "I can't share that."}]}]
    step = normalize(span({
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-5",
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "secret?"}]}]),
        "gen_ai.output.messages": json.dumps(output),
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 0, "gen_ai.usage.reasoning_tokens": 256,
        "gen_ai.usage.total_tokens": 310, "gen_ai.is_streaming": True, "gen_ai.user": "end-user-1",
        "gen_ai.request.reasoning_effort": "high",
    }))

    assert (step.kind, step.reasoning_tokens, step.user_id) == ("llm", 256, "end-user-1")
    assert step.output == output
    assert set(step.unmapped) == {"gen_ai.usage.total_tokens", "gen_ai.is_streaming", "gen_ai.request.reasoning_effort"}


def test_openllmetry_workflow_span_unwraps_the_entity_envelope():
    step = normalize(span({
        "traceloop.span.kind": "workflow", "traceloop.entity.name": "travel_agent",
        "traceloop.workflow.name": "travel_agent",
        "traceloop.entity.input": '{"args": [], "kwargs": {"question": "Book me a flight"}}',
        "traceloop.entity.output": '{"output": "Booked TP1234"}',
    }, name="travel_agent.workflow", kind=1))

    assert (step.kind, step.name, step.convention) == ("other", "travel_agent", "openllmetry")
    assert (step.input, step.output) == ({"question": "Book me a flight"}, "Booked TP1234")


def test_openllmetry_tool_span_entity_input_and_output_are_the_tool_call():
    step = normalize(span({
        "traceloop.span.kind": "tool", "traceloop.entity.name": "get_weather",
        "traceloop.entity.input": '{"args": [], "kwargs": {"city": "Oslo"}}',
        "traceloop.entity.output": '"snow"',
    }, name="get_weather.tool", kind=1))

    assert (step.kind, step.name, step.tool_name) == ("tool", "get_weather", "get_weather")
    assert (step.tool_arguments, step.tool_result) == ({"city": "Oslo"}, "snow")
    assert (step.input, step.output) == (None, None)


def test_openllmetry_agent_span_sets_the_agent_name():
    step = normalize(span({"traceloop.span.kind": "agent", "traceloop.entity.name": "planner"},
                          name="planner.agent", kind=1))

    assert (step.kind, step.name, step.agent_name) == ("agent", "planner", "planner")


def test_openllmetry_task_failure_marks_the_step_failed():
    step = normalize(span({"traceloop.span.kind": "task", "traceloop.entity.name": "fetch",
                           "gen_ai.task.status": "failure"}, kind=1))

    assert (step.kind, step.is_error) == ("other", True)


def test_openllmetry_embedding_request_type_is_an_embedding_step():
    step = normalize(span({"llm.request.type": "embedding", "gen_ai.system": "openai",
                           "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 8},
                          name="openai.embeddings"))

    assert (step.kind, step.input_tokens) == ("embedding", 8)


def test_openllmetry_vector_db_query_results_become_retrieval_documents():
    events = [SpanEvent("db.query.result", 1, {"db.query.result.id": "a", "db.query.result.distance": 0.1,
                                               "db.query.result.document": "Refunds within 30 days."}),
              SpanEvent("db.query.result", 2, {"db.query.result.id": "b", "db.query.result.distance": 0.3})]
    step = normalize(span({"db.system": "chroma", "db.operation": "query", "db.vector.query.top_k": 2},
                          name="chroma.query", events=events))

    assert step.kind == "retrieval"
    assert step.output == [{"id": "a", "distance": 0.1, "document": "Refunds within 30 days."},
                           {"id": "b", "distance": 0.3}]


def test_openllmetry_legacy_finish_reason_on_the_thinking_completion_is_the_answers():
    # traceloop 0.45.x (anthropic): the thinking entry comes first and carries the finish reason.
    step = normalize(span({
        "llm.request.type": "completion", "gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.completion.0.finish_reason": "tool_use",
        "gen_ai.completion.0.role": "thinking", "gen_ai.completion.0.content": "Call get_weather.",
        "gen_ai.completion.1.role": "assistant", "gen_ai.completion.1.content": "Let me check.",
        "gen_ai.completion.1.tool_calls.0.id": "toolu_1", "gen_ai.completion.1.tool_calls.0.name": "get_weather",
        "gen_ai.completion.1.tool_calls.0.arguments": '{"city": "Paris"}',
    }, name="anthropic.chat"))

    assert step.finish_reasons == ["tool_call"]
    assert step.output == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "reasoning", "content": "Call get_weather."}, {"type": "text", "content": "Let me check."},
        {"type": "tool_call", "id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}]}]


def test_openllmetry_traceloop_tool_envelope_is_unwrapped_to_the_call_arguments():
    step = normalize(span({"traceloop.span.kind": "tool", "traceloop.entity.name": "get_weather",
                           "traceloop.entity.input": '{"args": [], "kwargs": {"city": "Paris"}}',
                           "traceloop.entity.output": '{"city": "Paris", "temperature_c": 22}'},
                          name="get_weather.tool"))

    assert (step.kind, step.tool_name, step.tool_arguments, step.tool_result) == (
        "tool", "get_weather", {"city": "Paris"}, {"city": "Paris", "temperature_c": 22})
