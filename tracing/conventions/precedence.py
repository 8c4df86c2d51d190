"""Which source wins each StepData field: the mapping table of conventions.md, as data.

Mappers offer every value they find, labelled with its source (usually the attribute
key); `assemble` keeps, per field, the offer whose source comes first here. Keeping the
order in one table, instead of in the order mappers happen to run, is what lets several
conventions share one span (OpenInference + GenAI, OpenLLMetry 0.5 + GenAI, ...).
Sources missing from a list rank after every listed one.
"""
from __future__ import annotations

# Labels for values that do not come from one span attribute.
# The operation-details event repeats the inference attributes; a value read from it is
# labelled f"{DETAILS_EVENT}:{key}" and ranks right after the span attribute `key`.
DETAILS_EVENT = "event:gen_ai.client.inference.operation.details"
MESSAGE_EVENTS = "event:gen_ai.*.message"
CHOICE_EVENTS = "event:gen_ai.choice"
CONTENT_EVENTS = "event:gen_ai.content.*"  # and the scalar gen_ai.prompt / gen_ai.completion attributes
EXCEPTION_EVENT = "event:exception"
OUTPUT_MESSAGES = "output messages"  # finish reasons carried inside the chosen output messages
VERCEL_USAGE = "ai.usage"
TOOL_KEYS_HINT = "gen_ai.tool.*"
VECTOR_DB_HINT = "db.query.result"
PYDANTIC_SPAN_NAME = "pydantic span name"

SOURCES: dict[str, list[str]] = {
    "kind": [
        "langfuse.observation.type",
        "openinference.span.kind",
        "gen_ai.operation.name",
        "traceloop.span.kind",
        "llm.request.type",
        "ai.operationId",
        PYDANTIC_SPAN_NAME,
        TOOL_KEYS_HINT,
        VECTOR_DB_HINT,
    ],
    "operation": ["gen_ai.operation.name", "llm.request.type", "ai.operationId", "openinference.span.kind"],
    "name": [
        "gen_ai.tool.name",  # [tool]
        "gen_ai.agent.name",  # [agent]
        "tool.name",  # [tool]
        "agent.name",  # [agent]
        "traceloop.entity.name",
        "ai.toolCall.name",
        "logfire.msg",
        "ai.telemetry.functionId",
    ],
    "model": [
        "langfuse.observation.model.name",
        "gen_ai.response.model",
        "llm.response.model_name",
        "ai.response.model",
        "llm.model_name",
        "gen_ai.request.model",
        "llm.request.model_name",
        "ai.model.id",
        "embedding.model_name",
        "reranker.model_name",
        "model_name",
        "llm.invocation_parameters",
    ],
    "request_model": [
        "gen_ai.request.model",
        "llm.request.model_name",
        "llm.invocation_parameters",
        "ai.model.id",
        "llm.model_name",
    ],
    "provider": [
        "gen_ai.provider.name",
        "gen_ai.system",
        "llm.provider",
        "llm.system",
        "ai.model.provider",
        "server.address",
    ],
    # Vercel first: it mirrors its own ai.usage counts into gen_ai.usage.*, cache-exclusive
    # for some providers; its mapper re-adds the cache, the mirror cannot.
    "input_tokens": [
        VERCEL_USAGE,
        "gen_ai.usage.input_tokens",
        "llm.token_count.prompt",
        "gen_ai.usage.prompt_tokens",
        "langfuse.observation.usage_details",
    ],
    "output_tokens": [
        "gen_ai.usage.output_tokens",
        "llm.token_count.completion",
        "gen_ai.usage.completion_tokens",
        VERCEL_USAGE,
        "langfuse.observation.usage_details",
    ],
    "cache_read_tokens": [
        "gen_ai.usage.cache_read.input_tokens",
        "llm.token_count.prompt_details.cache_read",
        "gen_ai.usage.cache_read_input_tokens",
        VERCEL_USAGE,
        "gen_ai.usage.details.cache_read_tokens",
        "langfuse.observation.usage_details",
        "ai.response.providerMetadata",
    ],
    "cache_write_tokens": [
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "llm.token_count.prompt_details.cache_write",
        "gen_ai.usage.cache_creation_input_tokens",
        VERCEL_USAGE,
        "gen_ai.usage.details.cache_write_tokens",
        "langfuse.observation.usage_details",
        "ai.response.providerMetadata",
    ],
    "reasoning_tokens": [
        "gen_ai.usage.reasoning.output_tokens",
        "llm.token_count.completion_details.reasoning",
        "gen_ai.usage.reasoning_tokens",
        "llm.usage.reasoning_tokens",
        "gen_ai.usage.details.reasoning_tokens",
        VERCEL_USAGE,
        "langfuse.observation.usage_details",
    ],
    "reported_cost": ["langfuse.observation.cost_details", "llm.cost.total", "operation.cost", "gen_ai.usage.cost"],
    "input": [
        "gen_ai.input.messages",
        "llm.input_messages",
        "gen_ai.prompt.N",
        MESSAGE_EVENTS,
        CONTENT_EVENTS,
        "ai.prompt.messages",
        "pydantic_ai.all_messages",
        "gen_ai.retrieval.query.text",
        "langfuse.observation.input",
        "traceloop.entity.input",
        "input.value",
        "llm.prompts",
        "reranker.query",
        "embedding.embeddings",
        "ai.values",
        "ai.prompt",
        "gen_ai.task.input",
        "events",
        "request_data",
        "langfuse.trace.input",
    ],
    "output": [
        "gen_ai.output.messages",
        "llm.output_messages",
        "gen_ai.completion.N",
        CHOICE_EVENTS,
        CONTENT_EVENTS,
        "ai.response",
        "gen_ai.retrieval.documents",
        "retrieval.documents",
        "langfuse.observation.output",
        "traceloop.entity.output",
        "output.value",
        "llm.choices",
        "reranker.output_documents",
        VECTOR_DB_HINT,
        "embedding.embeddings",
        "ai.embeddings",
        "final_result",
        "gen_ai.task.output",
        "events",
        "response_data",
        "langfuse.trace.output",
    ],
    "system_instructions": ["gen_ai.system_instructions"],
    "tool_definitions": [
        "gen_ai.tool.definitions",
        "llm.tools",
        "llm.request.functions",
        "gen_ai.tool.definitions.N",
        "ai.prompt.tools",
    ],
    "finish_reasons": [
        "gen_ai.response.finish_reasons",
        OUTPUT_MESSAGES,
        "llm.finish_reason",
        "gen_ai.response.finish_reason",
        "llm.response.finish_reason",
        "gen_ai.response.stop_reason",
        "llm.response.stop_reason",
        "ai.response.finishReason",
        "anthropic.message.stop_reason",  # the Anthropic SDK's own spans send only this
    ],
    "tool_name": ["gen_ai.tool.name", "tool.name", "ai.toolCall.name", "traceloop.entity.name"],
    "tool_call_id": ["gen_ai.tool.call.id", "tool.id", "tool_call.id", "ai.toolCall.id"],
    "tool_arguments": [
        "gen_ai.tool.call.arguments",
        "input.value",
        "tool.parameters",
        "ai.toolCall.args",
        "tool_arguments",
        "traceloop.entity.input",
        "langfuse.observation.input",
    ],
    "tool_result": [
        "gen_ai.tool.call.result",
        "output.value",
        "ai.toolCall.result",
        "tool_response",
        "traceloop.entity.output",
        "langfuse.observation.output",
    ],
    "session_id": [
        "langfuse.session.id",
        "session.id",
        "gen_ai.conversation.id",
        "traceloop.association.properties.session_id",
        "langfuse metadata langfuse_session_id",
        "ai.telemetry.metadata.sessionId",
    ],
    "user_id": [
        "langfuse.user.id",
        "user.id",
        "traceloop.association.properties.user_id",
        "gen_ai.user",
        "llm.user",
        "langfuse metadata langfuse_user_id",
        "ai.telemetry.metadata.userId",
    ],
    "agent_name": ["gen_ai.agent.name", "agent.name", "agent_name", "traceloop.entity.name", "graph.node.name"],
    "tags": [
        "langfuse.trace.tags",
        "langfuse.tags",
        "langfuse metadata langfuse_tags",
        "ai.telemetry.metadata.tags",
        "tag.tags",
    ],
    "environment": [
        "langfuse.environment",
        "deployment.environment.name",
        "deployment.environment",
        "resource deployment.environment.name",
        "resource deployment.environment",
    ],
    # Merged, not first-wins: on a key clash the earlier source wins.
    "metadata": [
        "langfuse.observation.metadata",
        "langfuse.trace.metadata",
        "metadata",
        "ai.telemetry.metadata",
        "traceloop.association.properties",
    ],
    "error_type": ["error.type", EXCEPTION_EVENT, "http.response.status_code"],
    "error_message": ["status.message", "langfuse.observation.status_message", EXCEPTION_EVENT],
}

# Span-level values that stand for the whole step input/output. On a tool step they are the
# call's arguments/result (and are kept only there); on other steps only input/output.
GENERIC_CONTENT = frozenset(
    {
        "input.value",
        "output.value",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "langfuse.observation.input",
        "langfuse.observation.output",
    }
)

# name sources that only apply to one kind of step.
NAME_GUARDS = {"gen_ai.tool.name": "tool", "tool.name": "tool", "gen_ai.agent.name": "agent", "agent.name": "agent"}

_RANKS = {field: {source: i for i, source in enumerate(sources)} for field, sources in SOURCES.items()}


def rank(field: str, source: str) -> float:
    if source.startswith(DETAILS_EVENT + ":"):
        return rank(field, source[len(DETAILS_EVENT) + 1:]) + 0.5
    ranks = _RANKS.get(field, {})
    return ranks.get(source, len(ranks))
