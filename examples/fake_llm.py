"""A deterministic, in-process stand-in for a chat model that plans trips with tools.

No network and no randomness: given the same conversation it returns the same reply, and
the token usage of the n-th model turn of a run is always USAGE_BY_TURN[n], so checks can
assert exact numbers (and exact cost) on what Sagatrace recorded.

The "model" reads the conversation (OpenAI-style messages) and decides:
  1. ask for the weather and the flights in parallel;
  2. retry the weather if it failed, and convert the flight price to EUR;
  3. answer in text.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

MODEL = "claude-sonnet-4-5"  # a model genai-prices knows, so runs get a computed cost
RESPONSE_MODEL = "claude-sonnet-4-5-20250929"
PROVIDER = "anthropic"


@dataclass(frozen=True)
class Usage:
    # GenAI semantics: input_tokens includes cache reads and writes, output_tokens
    # includes reasoning tokens.
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


# Turn 1 writes the system prompt and tool schemas to the prompt cache; later turns read it.
USAGE_BY_TURN = (
    Usage(input_tokens=1450, output_tokens=180, cache_read_tokens=0, cache_write_tokens=1200, reasoning_tokens=60),
    Usage(input_tokens=1720, output_tokens=150, cache_read_tokens=1200, cache_write_tokens=0, reasoning_tokens=45),
    Usage(input_tokens=1980, output_tokens=210, cache_read_tokens=1200, cache_write_tokens=0, reasoning_tokens=30),
)


@dataclass(frozen=True)
class Reply:
    id: str
    model: str
    message: dict  # OpenAI-style assistant message: {role, content, tool_calls?}
    reasoning: str
    finish_reason: str  # "tool_calls" or "stop", as OpenAI spells them
    usage: Usage


_TRIP = re.compile(r"from (?P<origin>[\w ]+?) to (?P<destination>[\w ]+?) on (?P<date>\d{4}-\d\d-\d\d)")


class FakeLLM:
    def chat(self, messages: list[dict], system: str | None = None, tools: list | None = None) -> Reply:
        turn = sum(1 for m in messages if m["role"] == "assistant")
        usage = USAGE_BY_TURN[min(turn, len(USAGE_BY_TURN) - 1)]
        trip = _TRIP.search(messages[0]["content"]).groupdict()
        results = _latest_results(messages)

        calls, thoughts = [], []
        weather = results.get("get_weather")
        if weather is None or weather.startswith("error"):
            thoughts.append("The weather lookup failed, so I retry it." if weather
                            else f"I need the weather in {trip['destination']} on {trip['date']}.")
            calls.append(("get_weather", {"city": trip["destination"], "date": trip["date"]}))
        flights = results.get("search_flights")
        if flights is None:
            thoughts.append("I also need flight prices; both lookups can run in parallel.")
            calls.append(("search_flights", trip))
        elif "convert_currency" not in results:
            price = json.loads(flights)["price_usd"]
            thoughts.append(f"The cheapest flight costs {price} USD; the user wants EUR.")
            calls.append(("convert_currency", {"amount": price, "from_currency": "USD", "to_currency": "EUR"}))

        reply_id = f"msg_fake_{turn + 1:02d}"
        if calls:
            tool_calls = [{"id": f"toolu_{turn + 1:02d}_{i}", "type": "function",
                           "function": {"name": name, "arguments": json.dumps(args)}}
                          for i, (name, args) in enumerate(calls)]
            message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
            return Reply(reply_id, RESPONSE_MODEL, message, " ".join(thoughts), "tool_calls", usage)

        forecast = json.loads(results["get_weather"])
        flight = json.loads(flights)
        eur = json.loads(results["convert_currency"])["amount"]
        answer = (f"{trip['destination']} on {trip['date']}: {forecast['conditions']}, "
                  f"{forecast['high_c']}°C. The cheapest flight from {trip['origin']} is "
                  f"{flight['flight']} at {eur:.2f} EUR.")
        message = {"role": "assistant", "content": answer}
        return Reply(reply_id, RESPONSE_MODEL, message,
                     "I have the weather, the flight and the price in EUR; time to answer.", "stop", usage)


def _latest_results(messages: list[dict]) -> dict[str, str]:
    """The latest result content per tool name, matched through the tool_call ids."""
    names = {call["id"]: call["function"]["name"]
             for m in messages if m["role"] == "assistant" for call in m.get("tool_calls") or ()}
    return {names[m["tool_call_id"]]: m["content"] for m in messages if m["role"] == "tool"}
