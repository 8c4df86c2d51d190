"""Print what the compiled modules compute for a fixed set of spans, one JSON line each.

Run twice by tests/tracing/test_native.py, with the mypyc build (SAGATRACE_NATIVE=1) and with the
Python source (SAGATRACE_NATIVE=0): the two outputs must be identical. The spans: the captured
corpus (tests/fixtures/otlp), the benchmark's agents re-sending their conversation, secrets for
redaction, the hostile values of test_conventions_normalizer, and seeded random JSON under the
attribute keys every mapper reads. For each: the normalized step, redacted, built into a Step
(its columns and the raw span's recipes, tracing.received) and its search text and words.
"""
import json
import os
import random
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracing.settings")
os.environ.setdefault("SECRET_KEY", "native-outputs")

import django  # noqa: E402

django.setup()

import loadgen  # noqa: E402
from ingest import otlp  # noqa: E402
from tests.security.test_redaction import SAMPLES  # noqa: E402
from tests.tracing.test_conventions_normalizer import HOSTILE_VALUES, KEYS  # noqa: E402
from tracing import indexer, native, redaction, search  # noqa: E402
from tracing.conventions import normalize  # noqa: E402
from tracing.spans import SpanEvent, SpanRecord  # noqa: E402

ROLES = ["user", "assistant", "system", "tool", "model", 5, None]
PART_TYPES = ["text", "tool_call", "tool_call_response", "reasoning", "thinking", "image_url", "input_text", None]


def corpus_spans():
    for path in sorted((ROOT / "tests" / "fixtures" / "otlp").glob("*.pb")):
        yield from otlp.decode(path.read_bytes(), otlp.PROTOBUF).spans
    loadgen.time = SimpleNamespace(time_ns=lambda: 1_795_000_000_000_000_000)  # the same spans in both runs
    rng = random.Random(7)
    for encoding in (otlp.PROTOBUF, otlp.JSON):
        cycle = loadgen.build_cycle(7, batches=2, batch_size=64, encoding=encoding, growing=True)
        instance = loadgen.Instance(cycle)
        instance.trace_ids = [rng.randbytes(16) for _ in instance.trace_ids]
        instance.span_ids = [rng.randbytes(8) for _ in instance.span_ids]
        for i in range(len(cycle.templates)):
            yield from otlp.decode(instance.body(i)[0], encoding).spans


def record(attributes, events=(), name="work", scope=""):
    return SpanRecord("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", None, name, 1, 1, 2,
                      attributes=attributes, events=list(events), scope_name=scope)


def random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice([None, True, 0, -3, 2**60, 1.5, float("nan"), "", "x", "hello world", "Lisbon 4111 1111 "
                           "1111 1111", SAMPLES["openai_key"], '{"role": "user", "content": "hi"}', "[1, 2",
                           "ghp_" + "a" * 36, "1234567890123"])
    if roll < 0.55:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if roll < 0.8:  # message-shaped
        part = {"type": rng.choice(PART_TYPES), "content": random_value(rng, depth + 1),
                "text": random_value(rng, depth + 1), "id": rng.choice(["c1", 3, None]),
                "name": rng.choice(["get_weather", "", None]), "arguments": random_value(rng, depth + 1)}
        return {"role": rng.choice(ROLES), "parts": [part] if rng.random() < 0.5 else part,
                "content": random_value(rng, depth + 1), "tool_calls": random_value(rng, depth + 1)}
    out = {rng.choice(["input_tokens", "total", "message", "function", "finish_reason", "usage", "type"]):
           random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return json.dumps(out, default=str) if rng.random() < 0.3 else out


def constructed_spans():
    for value in [*HOSTILE_VALUES, *SAMPLES.values()]:
        for signal in ({}, {"openinference.span.kind": "LLM"}, {"gen_ai.operation.name": "chat"},
                       {"langfuse.observation.type": "generation"}, {"ai.operationId": "ai.generateText.doGenerate"}):
            yield record({**{k: value for k in KEYS}, **signal}, scope="pydantic-ai",
                         events=[SpanEvent("gen_ai.choice", 1, {"message": value, "index": value})])
    rng = random.Random(20261122)
    for _ in range(400):
        keys = rng.sample(KEYS, rng.randrange(1, 8))
        yield record({k: random_value(rng) for k in keys}, scope=rng.choice(["", "pydantic-ai", "openinference"]),
                     events=[SpanEvent(rng.choice(["gen_ai.choice", "gen_ai.user.message", "exception"]), 1,
                                       {"message": random_value(rng), "content": random_value(rng)})])


def outputs():
    redact = redaction.build().step
    seen: set[str] = set()
    for span in [*corpus_spans(), *constructed_spans()]:
        data = normalize(span)
        redact(data, span, set())
        step = indexer.build_step(1, span, data)
        columns = {f.attname: getattr(step, f.attname) for f in step._meta.concrete_fields}
        text = search.step_text(step, seen)
        yield {"columns": columns, "text": text, "words": sorted(search.split_words(text))}


if __name__ == "__main__":
    print(json.dumps({"native": native.ACTIVE}))
    for line in outputs():
        print(json.dumps(line, sort_keys=True, default=repr))
