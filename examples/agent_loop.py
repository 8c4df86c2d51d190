"""A tool-using travel assistant, traced with the Sagatrace SDK, against a fake model.

    python examples/agent_loop.py --endpoint http://127.0.0.1:8000 --api-key KEY --runs 3

Each run is one trace: `invoke_agent travel-assistant` with three `chat` calls, four
tool calls (the weather API times out once per run and is retried) and a final
`format_answer` step. The model is examples/fake_llm.py: deterministic, no network.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

# Run from a checkout without installing: make `tracing.sdk` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fake_llm  # noqa: E402  (sits next to this file)
from tracing import sdk  # noqa: E402

AGENT = "travel-assistant"
SYSTEM_PROMPT = "You are a travel assistant. Use the tools; quote prices in the user's currency."
TRIPS = [("Berlin", "Lisbon", "2026-06-12"), ("Paris", "Tokyo", "2026-07-03"),
         ("Madrid", "Reykjavik", "2026-09-21")]
USERS = ("alice", "bob")
MAX_TURNS = 6

TOOL_SCHEMAS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Forecast for a city on a date.",
        "parameters": {"type": "object", "required": ["city", "date"], "properties": {
            "city": {"type": "string"}, "date": {"type": "string", "format": "date"}}}}},
    {"type": "function", "function": {
        "name": "search_flights", "description": "Cheapest direct flight, price in USD.",
        "parameters": {"type": "object", "required": ["origin", "destination", "date"], "properties": {
            "origin": {"type": "string"}, "destination": {"type": "string"},
            "date": {"type": "string", "format": "date"}}}}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount between currencies.",
        "parameters": {"type": "object", "required": ["amount", "from_currency", "to_currency"],
                       "properties": {"amount": {"type": "number"}, "from_currency": {"type": "string"},
                                      "to_currency": {"type": "string"}}}}},
]

FORECASTS = {"Lisbon": ("sunny", 27), "Tokyo": ("humid, showers", 29), "Reykjavik": ("windy, drizzle", 11)}
FLIGHTS = {"Lisbon": ("TP 571", 212.40), "Tokyo": ("AF 276", 1184.00), "Reykjavik": ("FI 593", 389.90)}
USD_TO_EUR = 0.92


class _WeatherOutage:
    """The weather API times out on the first call of every run, so each trace shows a
    failed tool step followed by its retry."""
    failures_left = 0


@sdk.tool("get_weather", description="Forecast for a city on a date.")
def get_weather(city: str, date: str) -> dict:
    if _WeatherOutage.failures_left > 0:
        _WeatherOutage.failures_left -= 1
        raise TimeoutError("weather service did not answer within 5s")
    conditions, high_c = FORECASTS[city]
    return {"city": city, "date": date, "conditions": conditions, "high_c": high_c}


@sdk.tool("search_flights")
def search_flights(origin: str, destination: str, date: str) -> dict:
    flight, price = FLIGHTS[destination]
    return {"flight": flight, "origin": origin, "destination": destination, "date": date, "price_usd": price}


@sdk.tool("convert_currency")
def convert_currency(amount: float, from_currency: str, to_currency: str) -> dict:
    assert (from_currency, to_currency) == ("USD", "EUR"), "the example only knows USD→EUR"
    return {"amount": round(amount * USD_TO_EUR, 2), "currency": to_currency}


TOOLS = {fn.__name__: fn for fn in (get_weather, search_flights, convert_currency)}


def run_tool_call(call: dict) -> dict:
    """Run one requested tool call and return the tool message for the model. A failing
    tool is reported to the model (which may retry), not raised out of the loop."""
    fn = TOOLS[call["function"]["name"]]
    try:
        result = fn.with_call_id(call["id"])(**json.loads(call["function"]["arguments"]))
        content = json.dumps(result)
    except Exception as exc:  # the tool span already recorded the error
        content = f"error: {type(exc).__name__}: {exc}"
    return {"role": "tool", "tool_call_id": call["id"], "content": content}


def run_agent(request: str, model: fake_llm.FakeLLM, session_id: str, user_id: str) -> tuple[str, str]:
    """One agent run; returns (trace_id, answer)."""
    _WeatherOutage.failures_left = 1
    with sdk.agent(AGENT, session_id=session_id, user_id=user_id, tags=["example", "travel"],
                   version="1.0") as run:
        run.set_input(request)
        messages = [{"role": "user", "content": request}]
        for _ in range(MAX_TURNS):
            with sdk.llm(fake_llm.MODEL, fake_llm.PROVIDER, temperature=0.2, max_tokens=1024) as call:
                call.set_input(messages, system=SYSTEM_PROMPT, tools=TOOL_SCHEMAS)
                reply = model.chat(messages, system=SYSTEM_PROMPT, tools=TOOL_SCHEMAS)
                call.set_response_model(reply.model)
                call.set_response_id(reply.id)
                call.set_reasoning(reply.reasoning)
                call.set_output(reply.message, finish_reason=reply.finish_reason)
                u = reply.usage
                call.set_usage(input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                               cache_read_tokens=u.cache_read_tokens, cache_write_tokens=u.cache_write_tokens,
                               reasoning_tokens=u.reasoning_tokens)
            messages.append(reply.message)
            if not reply.message.get("tool_calls"):
                break
            messages.extend(run_tool_call(c) for c in reply.message["tool_calls"])
        with sdk.step("format_answer"):
            answer = (reply.message.get("content") or "").strip()
        run.set_output(answer)
        return run.trace_id, answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:8000"),
                        help="Sagatrace base URL (/v1/traces is appended)")
    parser.add_argument("--api-key", default=os.environ.get("SAGATRACE_API_KEY"),
                        help="project API key (default: $SAGATRACE_API_KEY)")
    parser.add_argument("--runs", type=int, default=1, help="number of agent runs (one trace each)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # so export failures (401, refused) are visible

    sdk.configure(args.endpoint, api_key=args.api_key, service_name="travel-assistant-example",
                  **{"deployment.environment.name": "example"})
    model = fake_llm.FakeLLM()
    for i in range(args.runs):
        origin, destination, date = TRIPS[i % len(TRIPS)]
        user = USERS[i % len(USERS)]
        request = (f"I'm flying from {origin} to {destination} on {date}. What will the weather be "
                   f"like, and what does the cheapest flight cost in EUR?")
        trace_id, answer = run_agent(request, model, session_id=f"{user}-chat", user_id=user)
        print(f"{trace_id}  {answer}")
    sent = sdk.flush()
    sdk.shutdown()
    if not sent:
        print(f"error: some spans could not be sent to {args.endpoint} (see the log above)", file=sys.stderr)
    return 0 if sent else 1


if __name__ == "__main__":
    sys.exit(main())
