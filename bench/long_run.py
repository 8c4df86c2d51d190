"""A long run arriving while it runs: what indexing one 2,000-step run costs when its spans come in
small batches (an agent's BatchSpanProcessor flushing every few seconds) instead of all at once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sagatrace_bench \\
        .venv/bin/python bench/long_run.py [--steps 2000] [--batch 2000 --batch 64 --batch 16]

Every batch is stored and indexed as a worker indexes it (ingest.indexing.index_batch, in-process).
Prints, per batch size, the CPU of this process and of its PostgreSQL backend per span. The
database must be migrated (bench/run_ingest.py leaves it so); a project "long-run" is created.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracing.settings")
os.environ.setdefault("SECRET_KEY", "bench-not-secret")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from ingest import indexing, otlp  # noqa: E402
from ingest.models import IngestBatch  # noqa: E402
from profile_index import _backend_pid, _cpu, print_sql, time_sql  # noqa: E402  (bench/ is on sys.path when run as a script)
from tests.otlp_builders import new_span_id, new_trace_id, request, span  # noqa: E402
from tracing.models import Project, Run  # noqa: E402

WORDS = ("the weather in paris is mild today so we should plan the trip around museums and a walk by the river "
         "tickets prices opening hours and the forecast for the weekend matter most").split()


def text(i: int, n_words: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] + ("" if k % 9 else str(i)) for k in range(n_words))


def long_run(steps: int) -> list:
    """root agent, then LLM calls (~2 KB of messages each) alternating with tool calls."""
    trace_id, root = new_trace_id(), new_span_id()
    out = [span(trace_id, root, "invoke_agent planner", dur_ms=steps * 1000,
                attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})]
    for i in range(1, steps):
        if i % 2:
            msgs = [{"role": "user", "parts": [{"type": "text", "content": text(i, 150)}]}]
            reply = [{"role": "assistant", "parts": [{"type": "tool_call", "id": f"c{i}", "name": "search",
                                                      "arguments": {"q": text(i, 5)}}], "finish_reason": "tool_call"}]
            out.append(span(trace_id, new_span_id(), "chat gpt-4o", parent=root, start_ms=i * 1000, dur_ms=800, kind=3,
                            attrs={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                   "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1500 + i,
                                   "gen_ai.usage.output_tokens": 120, "gen_ai.usage.cache_read.input_tokens": 1024,
                                   "gen_ai.input.messages": json.dumps(msgs), "gen_ai.output.messages": json.dumps(reply)}))
        else:
            out.append(span(trace_id, new_span_id(), "execute_tool search", parent=root, start_ms=i * 1000, dur_ms=150,
                            attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                                   "gen_ai.tool.call.arguments": json.dumps({"q": text(i, 5)}),
                                   "gen_ai.tool.call.result": text(i, 120)}))
    return out[1:] + out[:1]  # the root span ends last, so it is exported last


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, action="append", help="spans per batch (repeatable)")
    p.add_argument("--sql", action="store_true", help="time every SQL statement (first 90 characters)")
    args = p.parse_args()
    settings.CELERY_BROKER_URL = ""
    settings.SAGATRACE_INDEX_GROUP_SPANS = 0  # one batch per transaction, as they would arrive: no group claims
    project, _ = Project.objects.get_or_create(slug="long-run", defaults={"name": "long-run"})
    for size in args.batch or [args.steps, 64, 16]:
        sql_times = time_sql(90) if args.sql else None
        spans = long_run(args.steps)
        ids = []
        for i in range(0, len(spans), size):  # stored as intake stores them (compressed)
            batch = IngestBatch.of(request(spans[i:i + size]), project=project, encoding=otlp.PROTOBUF,
                                   span_count=len(spans[i:i + size]))
            batch.save()
            ids.append(batch.id)
        backend = _backend_pid()
        b0, c0, t0 = _cpu(backend), time.process_time(), time.perf_counter()
        for batch_id in ids:
            indexing.index_batch(batch_id)
        cpu, pg, wall = time.process_time() - c0, _cpu(backend) - b0, time.perf_counter() - t0
        trace_id = spans[0].trace_id.hex()
        run = Run.objects.get(project=project, trace_id=trace_id)
        assert run.steps == args.steps, run.steps
        print(f"{args.steps} steps in batches of {size:5d} ({len(ids)} batches): {wall:6.2f}s wall; per span: "
              f"{cpu / args.steps * 1e6:6.0f} us this process, {pg / args.steps * 1e6:5.0f} us its PostgreSQL backend")
        if sql_times is not None:
            print_sql(sql_times)
            connection.execute_wrappers.clear()


if __name__ == "__main__":
    main()
