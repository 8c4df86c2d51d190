"""OpenInference: flattened messages and token counts, span kinds, input/output values, tools, retrievers."""
import json
from decimal import Decimal

import pytest

from tracing.conventions import normalize
from tracing.spans import SpanRecord


def span(attributes=None, *, name="ChatCompletion"):
    return SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c", span_id="eee19b7ec3c1b174", parent_span_id=None,
        name=name, kind=1, start_ns=1, end_ns=2, attributes=dict(attributes or {}),
        scope_name="openinference.instrumentation.openai",
    )


REQUEST = {"model": "gpt-4o", "temperature": 0.1, "messages": [{"role": "user", "content": "Weather in Paris?"}]}
LLM = {
    "openinference.span.kind": "LLM",
    "llm.system": "openai",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-2024-08-06",
    "llm.invocation_parameters": '{"model": "gpt-4o", "temperature": 0.1}',
    "input.value": json.dumps(REQUEST),
    "input.mime_type": "application/json",
    "output.value": '{"id": "chatcmpl-1"}',
    "output.mime_type": "application/json",
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "You are a weather bot.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Weather in Paris?",
    "llm.input_messages.2.message.role": "assistant",
    "llm.input_messages.2.message.tool_calls.0.tool_call.id": "call_1",
    "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "get_weather",
    "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
    "llm.input_messages.3.message.role": "tool",
    "llm.input_messages.3.message.tool_call_id": "call_1",
    "llm.input_messages.3.message.content": "rainy",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_2",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_forecast",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris", "days": 2}',
    "llm.finish_reason": "tool_calls",
    "llm.token_count.prompt": 1200,
    "llm.token_count.completion": 90,
    "llm.token_count.total": 1290,
    "llm.token_count.prompt_details.cache_read": 1024,
    "llm.token_count.completion_details.reasoning": 64,
    "llm.tools.0.tool.json_schema": json.dumps({"type": "function", "function": {
        "name": "get_forecast", "description": "Forecast", "parameters": {"type": "object", "properties": {}}}}),
    "session.id": "sess-42",
    "user.id": "user-7",
    "metadata": '{"tenant": "acme", "experiment": "b"}',
    "tag.tags": ["prod", "weather"],
}


def test_openinference_llm_span_unflattens_messages_and_token_counts():
    step = normalize(span(LLM))

    assert (step.kind, step.operation, step.convention) == ("llm", "chat", "openinference")
    assert (step.model, step.provider) == ("gpt-4o-2024-08-06", "openai")
    assert (step.input_tokens, step.output_tokens) == (1200, 90)
    assert (step.cache_read_tokens, step.reasoning_tokens) == (1024, 64)
    assert step.input == [
        {"role": "system", "parts": [{"type": "text", "content": "You are a weather bot."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy"}]},
    ]
    assert step.system_instructions == [{"type": "text", "content": "You are a weather bot."}]
    assert step.tool_calls == [{"id": "call_2", "name": "get_forecast", "arguments": {"city": "Paris", "days": 2}}]
    assert step.output[0]["finish_reason"] == "tool_call"
    assert step.finish_reasons == ["tool_call"]
    assert step.tool_definitions == [{"type": "function", "name": "get_forecast", "description": "Forecast",
                                      "parameters": {"type": "object", "properties": {}}}]


def test_openinference_context_attributes_map_to_session_user_metadata_and_tags():
    step = normalize(span(LLM))

    assert (step.session_id, step.user_id, step.tags) == ("sess-42", "user-7", ["prod", "weather"])
    assert step.metadata == {"tenant": "acme", "experiment": "b"}


def test_openinference_request_settings_and_totals_stay_unmapped():
    step = normalize(span(LLM))

    assert step.unmapped == {"llm.invocation_parameters": LLM["llm.invocation_parameters"],
                             "llm.token_count.total": 1290}


def test_openinference_contents_with_reasoning_and_images_become_parts():
    step = normalize(span({
        "openinference.span.kind": "LLM", "llm.model_name": "o3",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "What is in this image?",
        "llm.input_messages.0.message.contents.1.message_content.type": "image",
        "llm.input_messages.0.message.contents.1.message_content.image.image.url": "data:image/png;base64,iVBORw0K",
        "llm.input_messages.0.message.contents.2.message_content.type": "image",
        "llm.input_messages.0.message.contents.2.message_content.image.image.url": "https://example.com/cat.png",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.contents.0.message_content.type": "reasoning",
        "llm.output_messages.0.message.contents.0.message_content.text": "It has whiskers.",
        "llm.output_messages.0.message.contents.1.message_content.type": "text",
        "llm.output_messages.0.message.contents.1.message_content.text": "A cat.",
    }))

    assert step.input[0]["parts"] == [
        {"type": "text", "content": "What is in this image?"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0K"},
        {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
    ]
    assert step.output[0]["parts"] == [{"type": "reasoning", "content": "It has whiskers."},
                                       {"type": "text", "content": "A cat."}]
    assert step.reasoning == "It has whiskers."
    assert step.provider == "openai"  # inferred from the model name


def test_openinference_ordered_tool_use_contents_are_tool_calls():
    step = normalize(span({
        "openinference.span.kind": "LLM", "llm.model_name": "claude-sonnet-4-5",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.contents.0.message_content.type": "tool_use",
        "llm.output_messages.0.message.contents.0.tool_call.id": "toolu_1",
        "llm.output_messages.0.message.contents.0.tool_call.function.name": "search",
        "llm.output_messages.0.message.contents.0.tool_call.function.arguments": '{"q": "otel"}',
    }))

    assert step.tool_calls == [{"id": "toolu_1", "name": "search", "arguments": {"q": "otel"}}]


@pytest.mark.parametrize("provider, system, expected", [
    ("azure", "openai", "azure.ai.openai"), ("azure", None, "azure.ai.inference"), ("aws", "anthropic", "aws.bedrock"),
    ("google", "vertexai", "gcp.vertex_ai"), (None, "vertexai", "gcp.vertex_ai"), ("google", None, "gcp.gen_ai"),
    ("xai", None, "x_ai"), (None, "mistralai", "mistral_ai"), ("groq", "openai", "groq"),
    ("fireworks", None, "fireworks"),
])
def test_openinference_provider_combines_hosting_provider_and_api_flavour(provider, system, expected):
    attributes = {"openinference.span.kind": "LLM", "llm.model_name": "m"}
    attributes.update({k: v for k, v in (("llm.provider", provider), ("llm.system", system)) if v})
    assert normalize(span(attributes)).provider == expected


def test_openinference_tool_span_takes_arguments_and_result_from_input_and_output_value():
    step = normalize(span({
        "openinference.span.kind": "TOOL", "tool.name": "get_weather", "tool.id": "call_1",
        "tool.description": "Weather for a city",
        "tool.parameters": '{"type": "object", "properties": {"city": {"type": "string"}}}',
        "input.value": '{"city": "Paris"}', "input.mime_type": "application/json",
        "output.value": "rainy, 57°F", "output.mime_type": "text/plain",
    }, name="get_weather"))

    assert (step.kind, step.operation, step.name, step.tool_name, step.tool_call_id) == (
        "tool", "execute_tool", "get_weather", "get_weather", "call_1")
    assert (step.tool_arguments, step.tool_result) == ({"city": "Paris"}, "rainy, 57°F")
    assert (step.input, step.output) == (None, None)  # kept once, in the tool fields
    # A JSON Schema in tool.parameters is the definition, not the call's arguments.
    assert set(step.unmapped) == {"tool.description", "tool.parameters"}


def test_openinference_tool_parameters_holding_call_arguments_are_the_arguments():
    step = normalize(span({"openinference.span.kind": "TOOL", "tool.name": "add",
                           "tool.parameters": '{"a": 1, "b": 2}'}))

    assert step.tool_arguments == {"a": 1, "b": 2}


def test_openinference_retriever_span_maps_query_and_documents():
    step = normalize(span({
        "openinference.span.kind": "RETRIEVER", "input.value": "what is the refund policy?",
        "retrieval.documents.0.document.id": "doc-1", "retrieval.documents.0.document.score": 0.87,
        "retrieval.documents.0.document.content": "Refunds within 30 days.",
        "retrieval.documents.0.document.metadata": '{"source": "faq.md"}',
        "retrieval.documents.1.document.id": "doc-2", "retrieval.documents.1.document.content": "Shipping info.",
    }, name="retrieve"))

    assert (step.kind, step.input) == ("retrieval", "what is the refund policy?")
    assert step.output == [
        {"id": "doc-1", "score": 0.87, "content": "Refunds within 30 days.", "metadata": {"source": "faq.md"}},
        {"id": "doc-2", "content": "Shipping info."},
    ]


def test_openinference_reranker_span_is_retrieval_with_reranked_documents():
    step = normalize(span({"openinference.span.kind": "RERANKER", "reranker.query": "refunds",
                           "reranker.model_name": "rerank-v3.5", "reranker.top_k": 1,
                           "reranker.output_documents.0.document.id": "doc-1"}))

    assert (step.kind, step.operation, step.model, step.input) == ("retrieval", "rerank", "rerank-v3.5", "refunds")
    assert step.output == [{"id": "doc-1"}]
    assert step.unmapped == {"reranker.top_k": 1}


def test_openinference_chain_root_keeps_its_raw_input_and_output():
    step = normalize(span({"openinference.span.kind": "CHAIN", "input.value": '{"question": "hi"}',
                           "input.mime_type": "application/json", "output.value": "hello"}, name="RunnableSequence"))

    assert (step.kind, step.name, step.input, step.output) == ("other", "RunnableSequence", {"question": "hi"}, "hello")
    assert step.tool_arguments is None


def test_openinference_agent_span_is_named_after_the_agent():
    step = normalize(span({"openinference.span.kind": "AGENT", "agent.name": "planner",
                           "graph.node.id": "n1"}, name="AgentExecutor"))

    assert (step.kind, step.operation, step.name, step.agent_name) == ("agent", "invoke_agent", "planner", "planner")


def test_openinference_agent_name_on_an_llm_span_is_context_not_the_name():
    step = normalize(span({**LLM, "agent.name": "planner"}))

    assert (step.name, step.agent_name) == ("ChatCompletion", "planner")


def test_openinference_messages_sent_as_one_json_string_are_read():
    step = normalize(span({
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
        "llm.input_messages": json.dumps([{"message.role": "user", "message.content": "hi"}]),
        "llm.output_messages": json.dumps([{"role": "assistant", "content": "hello"}]),
    }))

    assert step.input == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
    assert step.unmapped == {}


def test_openinference_legacy_roles_agent_and_function_are_assistant_and_tool():
    step = normalize(span({
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-3.5-turbo",
        "llm.input_messages.0.message.role": "agent", "llm.input_messages.0.message.content": "Calling.",
        "llm.input_messages.1.message.role": "function", "llm.input_messages.1.message.name": "lookup",
        "llm.input_messages.1.message.content": "42",
    }))

    assert [m["role"] for m in step.input] == ["assistant", "tool"]


def test_openinference_llm_request_and_response_json_become_messages_without_flattened_ones():
    response = {"id": "chatcmpl-2", "model": "deepseek-reasoner", "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "reasoning_content": "2+2 is 4.", "content": "4"}}]}
    step = normalize(span({"openinference.span.kind": "LLM", "llm.model_name": "deepseek-reasoner",
                           "llm.provider": "deepseek",
                           "input.value": json.dumps({"model": "deepseek-reasoner", "messages": [
                               {"role": "system", "content": "Be exact."}, {"role": "user", "content": "2+2?"}]}),
                           "input.mime_type": "application/json",
                           "output.value": json.dumps(response), "output.mime_type": "application/json"}))

    assert step.input == [{"role": "system", "parts": [{"type": "text", "content": "Be exact."}]},
                          {"role": "user", "parts": [{"type": "text", "content": "2+2?"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "reasoning", "content": "2+2 is 4."},
                                                            {"type": "text", "content": "4"}], "finish_reason": "stop"}]
    assert (step.reasoning, step.finish_reasons) == ("2+2 is 4.", ["stop"])


def test_openinference_anthropic_output_value_thinking_and_tool_use_blocks_are_parsed():
    response = {"id": "msg_1", "type": "message", "role": "assistant", "stop_reason": "tool_use", "content": [
        {"type": "thinking", "thinking": "Need the weather.", "signature": "sig"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]}
    step = normalize(span({"openinference.span.kind": "LLM", "llm.model_name": "claude-sonnet-4-5",
                           "llm.provider": "anthropic", "output.value": json.dumps(response),
                           "output.mime_type": "application/json",
                           "input.value": json.dumps({"system": "Be helpful.", "messages": [
                               {"role": "user", "content": [{"type": "text", "text": "Weather?"}]}]}),
                           "input.mime_type": "application/json"}))

    assert step.reasoning == "Need the weather."
    assert step.tool_calls == [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert step.finish_reasons == ["tool_call"]
    assert step.system_instructions == [{"type": "text", "content": "Be helpful."}]


def test_openinference_reported_cost_is_a_decimal():
    step = normalize(span({**LLM, "llm.cost.total": 0.00315, "llm.cost.prompt": 0.003}))

    assert step.reported_cost == Decimal("0.00315")
    assert "llm.cost.prompt" in step.unmapped


def test_openinference_embedding_span_maps_model_texts_and_vectors():
    step = normalize(span({"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small",
                           "embedding.embeddings.0.embedding.text": "hello",
                           "embedding.embeddings.0.embedding.vector": [0.1, 0.2],
                           "llm.token_count.prompt": 1}, name="CreateEmbeddings"))

    assert (step.kind, step.operation, step.model, step.input_tokens) == (
        "embedding", "embeddings", "text-embedding-3-small", 1)
    assert (step.input, step.output) == (["hello"], [[0.1, 0.2]])


def test_openinference_completion_api_prompts_and_choices_become_messages():
    step = normalize(span({"openinference.span.kind": "LLM", "llm.model_name": "gpt-3.5-turbo-instruct",
                           "llm.prompts.0.prompt.text": "Say hi", "llm.choices.0.completion.text": "hi"}))

    assert step.operation == "text_completion"
    assert step.input == [{"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}]
    assert step.output == [{"role": "assistant", "parts": [{"type": "text", "content": "hi"}]}]


def test_openinference_and_genai_on_one_span_follow_the_precedence_table():
    # The OpenInference -> GenAI bridges dual-write; fields interleave by source, not by convention.
    step = normalize(span({**LLM, "openinference.span.kind": "CHAIN", "gen_ai.operation.name": "chat",
                           "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1201,
                           "gen_ai.provider.name": "azure.ai.openai"}))

    assert step.kind == "other"  # openinference.span.kind outranks gen_ai.operation.name
    assert step.operation == "chat"  # gen_ai.operation.name outranks the derived operation
    assert (step.model, step.request_model) == ("gpt-4o-2024-08-06", "gpt-4o")
    assert step.input_tokens == 1201
    assert step.provider == "azure.ai.openai"


def test_openinference_openai_responses_api_json_becomes_messages():
    request = {"model": "gpt-5", "instructions": "Be exact.", "input": [
        {"role": "user", "content": "Add 2 and 3."},
        {"type": "function_call", "call_id": "call_1", "name": "add", "arguments": '{"a": 2, "b": 3}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "5"}]}
    response = {"id": "resp_1", "object": "response", "output": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "The tool returned 5."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "5"}]}]}
    step = normalize(span({"openinference.span.kind": "LLM", "llm.model_name": "gpt-5",
                           "input.value": json.dumps(request), "input.mime_type": "application/json",
                           "output.value": json.dumps(response), "output.mime_type": "application/json"}))

    assert step.input == [
        {"role": "system", "parts": [{"type": "text", "content": "Be exact."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Add 2 and 3."}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "add",
                                         "arguments": {"a": 2, "b": 3}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "5"}]},
    ]
    assert step.output == [{"role": "assistant", "parts": [{"type": "reasoning", "content": "The tool returned 5."},
                                                            {"type": "text", "content": "5"}]}]


def test_openinference_gemini_json_becomes_messages():
    request = {"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
               "systemInstruction": {"parts": [{"text": "Be brief."}]}}
    response = {"candidates": [{"finishReason": "STOP", "content": {"role": "model", "parts": [
        {"text": "Need a lookup.", "thought": True}, {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]}}]}
    step = normalize(span({"openinference.span.kind": "LLM", "llm.model_name": "gemini-2.5-pro",
                           "llm.provider": "google", "input.value": json.dumps(request),
                           "input.mime_type": "application/json", "output.value": json.dumps(response),
                           "output.mime_type": "application/json"}))

    assert step.system_instructions == [{"type": "text", "content": "Be brief."}]
    assert step.input[1] == {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]}
    assert step.reasoning == "Need a lookup."
    assert step.tool_calls == [{"id": None, "name": "weather", "arguments": {"city": "Oslo"}}]
    assert (step.finish_reasons, step.provider) == (["stop"], "gcp.gen_ai")


def test_openinference_tool_call_listed_in_contents_and_tool_calls_is_one_call():
    # openinference-instrumentation-anthropic writes an Anthropic tool_use block twice on one message.
    call = {"id": "toolu_1", "function.name": "get_weather", "function.arguments": '{"city": "Paris"}'}
    attributes = {"openinference.span.kind": "LLM", "llm.output_messages.0.message.role": "assistant",
                  "llm.output_messages.0.message.contents.0.message_content.type": "text",
                  "llm.output_messages.0.message.contents.0.message_content.text": "Let me check.",
                  "llm.output_messages.0.message.contents.1.message_content.type": "tool_use"}
    for key, value in call.items():
        attributes[f"llm.output_messages.0.message.contents.1.tool_call.{key}"] = value
        attributes[f"llm.output_messages.0.message.tool_calls.0.tool_call.{key}"] = value
    step = normalize(span(attributes))

    assert step.tool_calls == [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert [p["type"] for p in step.output[0]["parts"]] == ["text", "tool_call"]


def test_openinference_distinct_tool_calls_without_ids_are_all_kept():
    attributes = {"openinference.span.kind": "LLM", "llm.output_messages.0.message.role": "assistant"}
    for k in (0, 1):
        attributes[f"llm.output_messages.0.message.tool_calls.{k}.tool_call.function.name"] = "get_weather"
        key = f"llm.output_messages.0.message.tool_calls.{k}.tool_call.function.arguments"
        attributes[key] = '{"city": "Paris"}'

    assert len(normalize(span(attributes)).tool_calls) == 2


def test_openinference_requested_model_comes_from_the_invocation_parameters():
    # openinference-instrumentation-openai: llm.model_name is the response model; the model sent is
    # only in llm.invocation_parameters.
    step = normalize(span({"openinference.span.kind": "LLM", "llm.model_name": "o4-mini-2025-04-16",
                           "llm.invocation_parameters": '{"model": "o4-mini", "reasoning_effort": "low"}'}))

    assert (step.model, step.request_model) == ("o4-mini-2025-04-16", "o4-mini")
