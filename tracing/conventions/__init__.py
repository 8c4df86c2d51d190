# TEMPORARY shim written by the lead engineer so the pipeline can be tested; the normalizer
# helper owns this file and should overwrite it entirely.
import json

from tracing.steps import StepData


def normalize(span):
    a = span.attributes
    op = a.get("gen_ai.operation.name", "")
    kind = {"chat": "llm", "execute_tool": "tool", "invoke_agent": "agent"}.get(op, "other")
    def j(v):
        try:
            return json.loads(v) if isinstance(v, str) else v
        except ValueError:
            return v
    return StepData(
        kind=kind, name=span.name, operation=op,
        model=a.get("gen_ai.response.model") or a.get("gen_ai.request.model", ""),
        provider=a.get("gen_ai.provider.name", ""),
        input_tokens=a.get("gen_ai.usage.input_tokens"), output_tokens=a.get("gen_ai.usage.output_tokens"),
        cache_read_tokens=a.get("gen_ai.usage.cache_read.input_tokens"),
        reasoning_tokens=a.get("gen_ai.usage.reasoning.output_tokens"),
        tool_name=a.get("gen_ai.tool.name", ""), tool_arguments=j(a.get("gen_ai.tool.call.arguments")),
        tool_result=j(a.get("gen_ai.tool.call.result")),
        agent_name=a.get("gen_ai.agent.name", ""), session_id=a.get("gen_ai.conversation.id", ""),
        user_id=a.get("user.id", ""), is_error=span.status_code == 2, error_message=span.status_message,
    )
