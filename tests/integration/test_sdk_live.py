"""Instrumenting an agent, end to end on real components: a live server and the real indexing
pipeline (a Celery worker on Redis over PostgreSQL, or in-process on SQLite).

1. The SDK's example agent (examples/agent_loop.py), run as users run it, against our endpoint.
2. The recipes of the "Connect an agent" page, copied from the rendered page, deliver spans.
   The OpenInference, OpenLLMetry and Langfuse packages are not installed here: their
   snippets run with the vendor call replaced by what that library does with its arguments
   (their span payloads are covered by the conformance corpus in tests/fixtures/otlp/).
"""
import base64
import html
import os
import re
import subprocess
import sys
import types
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tracing.models import Run, Step

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

import fake_llm  # noqa: E402


def test_sdk_example_agent_is_indexed_with_kinds_tokens_tool_arguments_and_reasoning(pipeline, live_server, api_key):
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "agent_loop.py"), "--endpoint", live_server.url,
         "--api-key", api_key, "--runs", "1"],
        capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    trace_id = re.match(r"([0-9a-f]{32})  ", result.stdout).group(1)
    pipeline.wait_indexed()

    run = Run.objects.get(trace_id=trace_id)
    assert (run.status, run.agent, run.service) == ("ok", "travel-assistant", "travel-assistant-example")
    assert (run.steps, run.llm_calls, run.tool_calls, run.errors) == (9, 3, 4, 1)
    usage = fake_llm.USAGE_BY_TURN
    assert run.input_tokens == sum(u.input_tokens for u in usage) == 5150
    assert run.output_tokens == sum(u.output_tokens for u in usage) == 540
    assert (run.cache_read_tokens, run.cache_write_tokens, run.reasoning_tokens) == (2400, 1200, 135)
    assert run.cost_usd is not None and run.cost_usd > 0
    assert (run.session_id, run.user_id, run.tags) == ("alice-chat", "alice", ["example", "travel"])

    steps = list(Step.objects.filter(trace_id=trace_id).order_by("start_ns"))
    assert [s.kind for s in steps] == ["agent", "llm", "tool", "tool", "llm", "tool", "tool", "llm", "other"]
    llms = [s for s in steps if s.kind == "llm"]
    assert [s.input_tokens for s in llms] == [u.input_tokens for u in usage]
    assert llms[0].reasoning.startswith("I need the weather in Lisbon on 2026-06-12.")
    assert llms[2].reasoning == "I have the weather, the flight and the price in EUR; time to answer."
    failed, search, retried, convert = (s for s in steps if s.kind == "tool")
    assert (failed.tool_name, failed.is_error, failed.error_type) == ("get_weather", True, "TimeoutError")
    assert failed.tool_arguments == {"city": "Lisbon", "date": "2026-06-12"}
    assert search.tool_arguments == {"origin": "Berlin", "destination": "Lisbon", "date": "2026-06-12"}
    assert retried.tool_result["conditions"] == "sunny"
    assert convert.tool_arguments == {"amount": 212.4, "from_currency": "USD", "to_currency": "EUR"}
    assert convert.tool_call_id in {c["id"] for c in llms[1].tool_calls}


def snippets(client, live_server, alice) -> dict[str, str]:
    """Each recipe's first snippet, as rendered for this server's host."""
    client.force_login(alice)
    page = client.get("/p/acme/connect/", HTTP_HOST=live_server.url.split("//", 1)[1]).content.decode()
    found = re.findall(r'<section class="recipe card" id="([\w-]+)">.*?<pre class="snippet"[^>]*>(.*?)</pre>', page, re.S)
    return {name: html.unescape(text) for name, text in found}


def env_of(snippet: str, api_key: str) -> dict[str, str]:
    return {k: v.strip('"').replace("<API key>", api_key)
            for k, v in re.findall(r"^export (\w+)=(.*)$", snippet, re.M)}


def send_one_span(provider: TracerProvider, name: str, attributes: dict) -> str:
    with provider.get_tracer("recipes").start_as_current_span(name, attributes=attributes) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert provider.force_flush(10_000)
    provider.shutdown()
    return trace_id


def test_connect_page_recipes_deliver_spans(pipeline, live_server, api_key, alice, client, monkeypatch):
    recipes = snippets(client, live_server, alice)
    assert set(recipes) == {"sdk", "otel-env", "openinference", "openllmetry", "langfuse"}
    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}
    sent = {}

    # Plain OpenTelemetry: nothing but the environment variables; the exporter reads them itself.
    for key, value in env_of(recipes["otel-env"], api_key).items():
        monkeypatch.setenv(key, value)
    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    sent["otel-env"] = send_one_span(provider, "chat gpt-4o", chat)
    for key in env_of(recipes["otel-env"], api_key):
        monkeypatch.delenv(key)

    # OpenInference: the snippet as written; the instrumentor only receives the provider.
    instrumented = {}
    fake = types.ModuleType("openinference.instrumentation.openai")
    fake.OpenAIInstrumentor = type("OpenAIInstrumentor", (), {
        "instrument": lambda self, tracer_provider: instrumented.setdefault("provider", tracer_provider)})
    for name in ("openinference", "openinference.instrumentation"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "openinference.instrumentation.openai", fake)
    exec(recipes["openinference"].replace("<API key>", api_key), {})
    sent["openinference"] = send_one_span(instrumented["provider"], "ChatCompletion", {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.provider": "openai",
        "llm.token_count.prompt": 10, "llm.token_count.completion": 5})

    # OpenLLMetry: Traceloop.init exports to f"{api_endpoint}/v1/traces" with the given headers
    # (traceloop-sdk tracing.init_spans_exporter); the fake does exactly that.
    def init(app_name, api_endpoint, headers, **_):
        exporter = OTLPSpanExporter(endpoint=f"{api_endpoint}/v1/traces", headers=headers)
        instrumented["traceloop"] = TracerProvider(resource=Resource.create({"service.name": app_name}))
        instrumented["traceloop"].add_span_processor(SimpleSpanProcessor(exporter))

    traceloop = types.ModuleType("traceloop.sdk")
    traceloop.Traceloop = types.SimpleNamespace(init=init)
    monkeypatch.setitem(sys.modules, "traceloop", types.ModuleType("traceloop"))
    monkeypatch.setitem(sys.modules, "traceloop.sdk", traceloop)
    monkeypatch.setenv("TRACELOOP_METRICS_ENABLED", "")  # restored after the test
    exec(recipes["openllmetry"].replace("<API key>", api_key), {})
    assert os.environ["TRACELOOP_METRICS_ENABLED"] == "false"  # Sagatrace takes no metrics
    sent["openllmetry"] = send_one_span(instrumented["traceloop"], "openai.chat", {
        "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 10, "gen_ai.usage.completion_tokens": 5})

    # Langfuse SDK v3+: OTLP/HTTP to {host}/api/public/otel/v1/traces, Basic auth public:secret.
    env = env_of(recipes["langfuse"], api_key)
    basic = base64.b64encode(f"{env['LANGFUSE_PUBLIC_KEY']}:{env['LANGFUSE_SECRET_KEY']}".encode()).decode()
    provider = TracerProvider(resource=Resource.create({"service.name": "langfuse-app"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{env['LANGFUSE_HOST']}/api/public/otel/v1/traces", headers={"Authorization": f"Basic {basic}"})))
    sent["langfuse"] = send_one_span(provider, "generation", {
        "langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o",
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})

    pipeline.wait_indexed()
    for recipe, trace_id in sent.items():
        step = Step.objects.get(trace_id=trace_id)
        assert (step.kind, step.input_tokens, step.output_tokens) == ("llm", 10, 5), recipe
    assert Run.objects.get(trace_id=sent["otel-env"]).service == "my-agent"
