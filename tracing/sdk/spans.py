"""The span helpers: `agent`, `llm`, `tool`, `step`.

Each call returns a recipe usable as `with`, `async with`, or a decorator (sync or async
function; the decorator opens a fresh span per call). Exceptions mark the span ERROR
with `error.type`, record an `exception` event, and keep propagating.

An `agent` span publishes its name, session and user in a ContextVar; every span started
under it copies them (gen_ai.agent.name, gen_ai.conversation.id, session.id, user.id), so
each step can be grouped by agent, session and user on its own.
"""
from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from .handles import AgentHandle, LLMHandle, SpanHandle, ToolHandle
from .provider import get_tracer


@dataclass(frozen=True, slots=True)
class _RunScope:
    agent_name: str
    session_id: str | None
    user_id: str | None

    def attributes(self) -> dict[str, Any]:
        return {"gen_ai.agent.name": self.agent_name, "gen_ai.conversation.id": self.session_id,
                "session.id": self.session_id, "user.id": self.user_id}


_run_scope: ContextVar[_RunScope | None] = ContextVar("sagatrace_run_scope", default=None)
_current: ContextVar[SpanHandle | None] = ContextVar("sagatrace_current", default=None)


def current() -> SpanHandle | None:
    """The handle of the innermost SDK span, e.g. for a function decorated with `@llm`
    to report usage: `current().set_usage(...)`."""
    return _current.get()


class _Recipe:
    """How to start one kind of span. Subclasses set the name, kind and attributes."""

    handle_class: type[SpanHandle] = SpanHandle
    kind = SpanKind.INTERNAL

    def __init__(self, name: str | None, attributes: dict[str, Any] | None = None):
        self.name = name
        self.attributes = {k: v for k, v in (attributes or {}).items() if v is not None}
        self._open: list[tuple[SpanHandle, list]] = []

    def span_name(self) -> str:
        return self.name

    def _scope(self, inherited: _RunScope | None) -> _RunScope | None:
        return inherited  # only agent() changes the scope

    def __enter__(self):
        if not self.name:
            raise TypeError("a span name is required (only a decorator defaults it to the function's name)")
        inherited = _run_scope.get()
        scope = self._scope(inherited)
        attributes = scope.attributes() if scope else {}
        attributes.update(self.attributes)  # a span's own attributes win over the scope's
        attributes = {k: v for k, v in attributes.items() if v is not None}
        span = get_tracer().start_span(self.span_name(), kind=self.kind, attributes=attributes)
        handle = self.handle_class(span)
        resets = [functools.partial(otel_context.detach,
                                    otel_context.attach(trace.set_span_in_context(span)))]
        if scope is not inherited:
            resets.append(functools.partial(_run_scope.reset, _run_scope.set(scope)))
        resets.append(functools.partial(_current.reset, _current.set(handle)))
        self._open.append((handle, resets))
        return handle

    def __exit__(self, exc_type, exc, tb) -> bool:
        handle, resets = self._open.pop()
        try:
            if exc is not None:
                handle._record_exception(exc)
        finally:
            handle.span.end()
            for reset in reversed(resets):
                try:
                    reset()
                except ValueError:  # exited in another context (e.g. a moved generator)
                    pass
        return False  # never swallow the exception

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        return self.__exit__(exc_type, exc, tb)

    # --- decorator -------------------------------------------------------------------
    def __call__(self, fn: Callable) -> Callable:
        recipe = self if self.name else self._copy(name=fn.__name__)
        return recipe._wrap(fn)

    def _copy(self, **changes) -> _Recipe:
        clone = copy.copy(self)
        clone.attributes = dict(self.attributes)
        clone._open = []
        for key, value in changes.items():
            setattr(clone, key, value)
        return clone

    def _before(self, handle: SpanHandle, fn: Callable, args: tuple, kwargs: dict) -> None:
        """Hook: record what a decorated call received."""

    def _after(self, handle: SpanHandle, result: Any) -> None:
        """Hook: record what a decorated call returned."""

    def _wrap(self, fn: Callable) -> Callable:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                with self._copy() as handle:
                    self._before(handle, fn, args, kwargs)
                    result = await fn(*args, **kwargs)
                    self._after(handle, result)
                    return result
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._copy() as handle:
                self._before(handle, fn, args, kwargs)
                result = fn(*args, **kwargs)
                self._after(handle, result)
                return result
        return wrapper


class _AgentRecipe(_Recipe):
    handle_class = AgentHandle

    def __init__(self, name, session_id, user_id, tags, attributes):
        super().__init__(name, attributes)
        self.session_id, self.user_id, self.tags = session_id, user_id, tags

    def span_name(self) -> str:
        return f"invoke_agent {self.name}"

    def _scope(self, inherited: _RunScope | None) -> _RunScope:
        # A sub-agent keeps the session and user of the agent that called it.
        return _RunScope(self.name,
                         self.session_id or (inherited.session_id if inherited else None),
                         self.user_id or (inherited.user_id if inherited else None))

    def __enter__(self):
        if self.tags:
            self.attributes["tag.tags"] = list(self.tags)
        return super().__enter__()


class _LLMRecipe(_Recipe):
    handle_class = LLMHandle
    kind = SpanKind.CLIENT

    def span_name(self) -> str:
        return f"{self.attributes['gen_ai.operation.name']} {self.name}"


class _ToolRecipe(_Recipe):
    handle_class = ToolHandle

    def __init__(self, name, call_id, attributes):
        super().__init__(name, attributes)
        self.call_id = call_id

    def span_name(self) -> str:
        return f"execute_tool {self.name}"

    def __enter__(self):
        self.attributes["gen_ai.tool.name"] = self.name
        if self.call_id is not None:
            self.attributes["gen_ai.tool.call.id"] = self.call_id
        return super().__enter__()

    def __call__(self, fn: Callable) -> Callable:
        wrapper = super().__call__(fn)
        recipe = self if self.name else self._copy(name=fn.__name__)
        # The model's call id is only known per call: `get_weather.with_call_id(id)(city=...)`.
        wrapper.with_call_id = lambda call_id: recipe._copy(call_id=call_id)._wrap(fn)
        return wrapper

    def _before(self, handle, fn, args, kwargs):
        handle.set_arguments(_call_arguments(fn, args, kwargs))

    def _after(self, handle, result):
        handle.set_result(result)


def _call_arguments(fn: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The arguments as the caller passed them, by parameter name (defaults left out, so
    they match the arguments the model asked for); `self`/`cls` dropped."""
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": list(args), "kwargs": kwargs}
    arguments: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif name not in ("self", "cls"):
            arguments[name] = list(value) if kind is inspect.Parameter.VAR_POSITIONAL else value
    return arguments


def _bare(make: Callable, name: Any):
    """Allow `@step` / `@tool` / `@agent` without parentheses."""
    return make(None)(name) if callable(name) else None


def agent(name: str | Callable | None = None, session_id: str | None = None,
          user_id: str | None = None, tags: Sequence[str] | None = None, *,
          agent_id: str | None = None, description: str | None = None,
          version: str | None = None, provider: str | None = None,
          attributes: dict[str, Any] | None = None):
    """An agent run: span `invoke_agent {name}` (INTERNAL). session_id and user_id (and
    the agent name) are copied onto every span inside it; tags go to `tag.tags`."""
    if (wrapped := _bare(agent, name)) is not None:
        return wrapped
    return _AgentRecipe(name, session_id, user_id, tags, {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": agent_id,
        "gen_ai.agent.description": description, "gen_ai.agent.version": version,
        "gen_ai.provider.name": provider, **(attributes or {})})


def llm(model: str, provider: str, *, operation: str = "chat", temperature: float | None = None,
        max_tokens: int | None = None, top_p: float | None = None,
        server_address: str | None = None, attributes: dict[str, Any] | None = None):
    """One model call: span `{operation} {model}` (CLIENT); yields an `LLMHandle`."""
    return _LLMRecipe(model, {
        "gen_ai.operation.name": operation, "gen_ai.provider.name": provider,
        "gen_ai.request.model": model, "gen_ai.request.temperature": temperature,
        "gen_ai.request.max_tokens": max_tokens, "gen_ai.request.top_p": top_p,
        "server.address": server_address, **(attributes or {})})


def tool(name: str | Callable | None = None, call_id: str | None = None, *,
         description: str | None = None, tool_type: str = "function",
         attributes: dict[str, Any] | None = None):
    """One tool execution: span `execute_tool {name}` (INTERNAL); yields a `ToolHandle`.
    As a decorator it records the call's arguments and return value; use
    `fn.with_call_id(id)(...)` to link a call to the model's tool_call id."""
    if (wrapped := _bare(tool, name)) is not None:
        return wrapped
    return _ToolRecipe(name, call_id, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.type": tool_type,
        "gen_ai.tool.description": description, **(attributes or {})})


def step(name: str | Callable | None = None, *, attributes: dict[str, Any] | None = None):
    """Any other unit of work: a plain INTERNAL span named `name`."""
    if (wrapped := _bare(step, name)) is not None:
        return wrapped
    return _Recipe(name, attributes)
