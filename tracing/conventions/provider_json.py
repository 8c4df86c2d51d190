"""Raw provider request/response JSON (as in OpenInference `input.value` / `output.value`,
Langfuse input/output, Logfire `request_data` / `response_data`) turned into messages.

Covers OpenAI Chat Completions and Responses, Anthropic Messages and Gemini
generateContent, the shapes instrumentations actually record.
"""
from __future__ import annotations

from typing import Any

from .messages import (
    normalize_finish_reason,
    text_part,
    to_message,
    to_messages,
    to_part,
    tool_call_part,
    tool_response_part,
)


def request_messages(body: Any) -> list[dict[str, Any]] | None:
    """Input messages of a request body (system prompt first, as a system message)."""
    if not isinstance(body, dict):
        return None
    system = _system_message(_first_present(body, "system", "instructions", "systemInstruction", "system_instruction"))
    messages: list[dict[str, Any]] | None = None
    if isinstance(body.get("messages"), list):
        messages = to_messages(body["messages"], "user")
    elif isinstance(body.get("contents"), list):  # Gemini
        messages = to_messages(body["contents"], "user")
    elif isinstance(body.get("input"), (str, list)):  # OpenAI Responses
        messages = _responses_input(body["input"])
    elif isinstance(body.get("prompt"), (str, list)):  # legacy completions, Vercel wrapper `ai.prompt`
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        messages = [{"role": "user", "parts": [text_part(p)]} for p in prompts if isinstance(p, str)] or None
    if messages is None:
        return None
    return [system, *messages] if system else messages


def response_messages(body: Any) -> list[dict[str, Any]] | None:
    """Output messages (one per choice/candidate) of a response body."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("choices"), list):  # OpenAI chat / completions
        return _choices(body["choices"])
    if isinstance(body.get("candidates"), list):  # Gemini
        out = []
        for candidate in body["candidates"]:
            if isinstance(candidate, dict) and isinstance(candidate.get("content"), dict):
                message = to_message({**candidate["content"], "role": "assistant"}, "assistant")
                reason = normalize_finish_reason(candidate.get("finishReason"))
                if message is not None:
                    if reason:
                        message["finish_reason"] = reason
                    out.append(message)
        return out or None
    if isinstance(body.get("output"), list):  # OpenAI Responses
        message = {"role": "assistant", "parts": _responses_parts(body["output"])}
        return [message] if message["parts"] else None
    if isinstance(body.get("content"), list) and body.get("role", "assistant") == "assistant":  # Anthropic
        message = to_message({**body, "role": "assistant"}, "assistant")
        return [message] if message else None
    if isinstance(body.get("message"), dict):  # Ollama, Logfire response_data
        message = to_message(body, "assistant")
        return [message] if message else None
    return None


def _first_present(body: dict, *keys: str) -> Any:
    for key in keys:
        if body.get(key):
            return body[key]
    return None


def _system_message(system: Any) -> dict[str, Any] | None:
    if isinstance(system, str):
        return {"role": "system", "parts": [text_part(system)]}
    if isinstance(system, list):  # Anthropic system blocks
        return {"role": "system", "parts": [to_part(p) for p in system]}
    if isinstance(system, dict) and isinstance(system.get("parts"), list):  # Gemini systemInstruction
        return {"role": "system", "parts": [to_part(p) for p in system["parts"]]}
    return None


def _choices(choices: list) -> list[dict[str, Any]] | None:
    out = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("message"), dict):
            message = to_message(choice, "assistant")
        elif isinstance(choice.get("text"), str):
            message = {"role": "assistant", "parts": [text_part(choice["text"])]}
            reason = normalize_finish_reason(choice.get("finish_reason"))
            if reason:
                message["finish_reason"] = reason
        else:
            message = None
        if message is not None:
            out.append(message)
    return out or None


def _responses_input(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, str):
        return [{"role": "user", "parts": [text_part(value)]}]
    out = []
    for item in value:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "function_call":
            out.append({"role": "assistant", "parts": [to_part(item)]})
        elif kind == "function_call_output":
            out.append({"role": "tool", "parts": [tool_response_part(item.get("call_id"), item.get("output"))]})
        elif kind == "reasoning":
            out.append({"role": "assistant", "parts": [to_part(item)]})
        else:
            message = to_message(item, "user")
            if message is not None:
                out.append(message)
    return out or None


def _responses_parts(items: list) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message" and isinstance(item.get("content"), list):
            parts.extend(to_part(p) for p in item["content"])
        elif kind == "function_call":
            parts.append(tool_call_part(item.get("call_id") or item.get("id"), item.get("name"), item.get("arguments")))
        elif kind == "reasoning":
            part = to_part(item)
            if part.get("content"):
                parts.append(part)
        else:
            parts.append(to_part(item))
    return parts
