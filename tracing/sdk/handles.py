"""What the span helpers yield: handles that write GenAI attributes onto their span.

Content attributes (messages, tool definitions, arguments, results) are JSON strings,
the form almost every emitter sends and the Sagatrace normalizer decodes.
"""
from __future__ import annotations

import copy
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from . import messages as m


class SpanHandle:
    """A started span. `step()` yields this; the other handles extend it."""

    def __init__(self, span: Span):
        self.span = span

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        return format(self.span.get_span_context().span_id, "016x")

    def set_attribute(self, key: str, value: Any) -> None:
        if value is not None:
            self.span.set_attribute(key, value)

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_error(self, message: str, error_type: str = "_OTHER") -> None:
        """Mark the step failed without raising (e.g. a tool that returned an error)."""
        self.span.set_attribute("error.type", error_type)
        self.span.set_status(Status(StatusCode.ERROR, message))

    def _record_exception(self, exc: BaseException) -> None:
        qualname = type(exc).__qualname__
        self.span.record_exception(exc, escaped=True)
        self.set_error(str(exc) or qualname, qualname)

    def _set_json(self, key: str, value: Any) -> None:
        # Serialising large content is wasted work when the span is not sampled.
        if not self.span.is_recording():
            return
        try:
            text = m.dumps(value)
        except ValueError:  # a circular structure: tracing must never break the agent
            text = m.dumps(repr(value))
        self.span.set_attribute(key, text)


class AgentHandle(SpanHandle):
    """`agent()` yields this: the run's input and final answer."""

    def set_input(self, messages: Any) -> None:
        """A user request string, or the conversation the agent starts from."""
        self._set_json("gen_ai.input.messages", m.to_messages(messages, "user"))

    def set_output(self, messages: Any, finish_reason: str | None = None) -> None:
        """The final answer (a string) or messages."""
        output = m.finish_output(m.to_messages(messages, "assistant"), finish_reason)
        self._set_json("gen_ai.output.messages", output)


class LLMHandle(SpanHandle):
    """`llm()` yields this. Output, reasoning and tool calls may be set in any order;
    they are merged into `gen_ai.output.messages` (reasoning first, in the first choice)."""

    def __init__(self, span: Span):
        super().__init__(span)
        self._output: list[dict] = []
        self._finish_reason: str | None = None
        self._reasoning: str | None = None
        self._tool_calls: list[dict] = []

    def set_input(self, messages: Any, system: Any = None, tools: Any = None) -> None:
        """The messages sent to the model; `system` instructions given apart from them
        (a string or parts); `tools` offered to the model (OpenAI/Anthropic/flat form)."""
        self._set_json("gen_ai.input.messages", m.to_messages(messages, "user"))
        if system is not None:
            self._set_json("gen_ai.system_instructions", m.system_instructions(system))
        if tools is not None:
            self._set_json("gen_ai.tool.definitions", m.tool_definitions(tools))

    def set_output(self, messages: Any, finish_reason: str | None = None) -> None:
        """The model's reply: text, one message, a list of messages or OpenAI choices.
        Without a finish_reason, `tool_call` is inferred when the reply asks for tools,
        else `stop`; OpenAI/Anthropic spellings are normalised (tool_calls→tool_call)."""
        self._output = m.to_messages(messages, "assistant")
        self._finish_reason = finish_reason
        self._write_output()

    def set_reasoning(self, text: str) -> None:
        self._reasoning = text
        self._write_output()

    def set_tool_calls(self, calls: Any) -> None:
        """Tool calls the model requested, when they are not in the output message."""
        self._tool_calls = [m.tool_call_part(call) for call in calls]
        self._write_output()

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None,
                  cache_read_tokens: int | None = None, cache_write_tokens: int | None = None,
                  reasoning_tokens: int | None = None) -> None:
        """Token counts with GenAI semantics: input_tokens counts ALL input tokens, the
        cached ones included (OpenAI's prompt_tokens; for Anthropic add the cache reads
        and writes to its input_tokens); output_tokens includes reasoning_tokens."""
        self.set_attributes({
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.usage.cache_read.input_tokens": cache_read_tokens,
            "gen_ai.usage.cache_creation.input_tokens": cache_write_tokens,
            "gen_ai.usage.reasoning.output_tokens": reasoning_tokens,
        })

    def set_response_model(self, model: str) -> None:
        self.set_attribute("gen_ai.response.model", model)

    def set_response_id(self, response_id: str) -> None:
        self.set_attribute("gen_ai.response.id", response_id)

    def _write_output(self) -> None:
        output = copy.deepcopy(self._output)
        if not output and (self._reasoning or self._tool_calls):
            output = [{"role": "assistant", "parts": []}]
        if output:
            parts = output[0].setdefault("parts", [])
            if self._reasoning and not any(p.get("type") == "reasoning" for p in parts):
                parts.insert(0, m.reasoning_part(self._reasoning))
            known_ids = {p.get("id") for p in parts if p.get("type") == "tool_call" and p.get("id")}
            parts.extend(c for c in self._tool_calls if not c.get("id") or c["id"] not in known_ids)
        m.finish_output(output, self._finish_reason)
        self._set_json("gen_ai.output.messages", output)
        self.set_attribute("gen_ai.response.finish_reasons",
                           [msg["finish_reason"] for msg in output] or None)


class ToolHandle(SpanHandle):
    """`tool()` yields this. The result is recorded only for a call that succeeded."""

    def set_arguments(self, arguments: Any) -> None:
        self._set_json("gen_ai.tool.call.arguments", arguments)

    def set_result(self, result: Any) -> None:
        self._set_json("gen_ai.tool.call.result", result)
