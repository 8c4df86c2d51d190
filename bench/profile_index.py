"""Profile one stage of the ingest path in-process, on the benchmark database: no HTTP, no broker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sagatrace_bench \\
        .venv/bin/python bench/profile_index.py --stage index --batches 8 [--cprofile out.prof]

Stages:
  http    POST /v1/traces through Django's test Client (middleware, auth, rate limit, intake)
  intake  intake.accept() of loadgen request bodies (what a gunicorn worker does per request)
  index   ingest.indexing.index_batch() of stored batches (what a Celery worker does per task)
  decode  ingest.otlp.decode() alone
  normalize  decode + conventions.normalize + redaction + pricing + search document (no database)

Settles the garbage collector as the worker does (tracing.gc_tuning; --default-gc not) and reports
its share. Prints spans/s and, with --cprofile, the top functions by cumulative and own time. The
database must be migrated (bench/run_ingest.py leaves it so); a project "profile" is created.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracing.settings")
os.environ.setdefault("SECRET_KEY", "bench-not-secret")

import django  # noqa: E402

django.setup()

import loadgen  # noqa: E402  (bench/ is on sys.path when run as a script)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from ingest import indexing, intake, otlp  # noqa: E402
from ingest.models import IngestBatch  # noqa: E402
from tracing import gc_tuning, indexer, search  # noqa: E402
from tracing.conventions import normalize  # noqa: E402
from tracing.models import Project  # noqa: E402
from tracing.redaction import redactor_for  # noqa: E402


def bodies(n: int, encoding: str, seed: int, growing: bool = False):
    out, cycle_no = [], 0
    while len(out) < n:
        cycle = loadgen.build_cycle(seed + cycle_no, encoding=encoding, growing=growing)
        instance = loadgen.Instance(cycle)
        out += [instance.body(i)[0] for i in range(len(cycle.templates))]
        cycle_no += 1
    return out[:n]


def time_sql(width: int = 60) -> dict[str, list[float]]:
    """From now on, time every SQL statement of this connection: {its first `width` characters: times}."""
    times: dict[str, list[float]] = {}

    def timed(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            times.setdefault(" ".join(sql.split())[:width], []).append(time.perf_counter() - t)

    connection.execute_wrappers.append(timed)
    return times


def gc_cpu_meter():
    """From now on, sum the CPU time of the garbage collector's runs; returns a reader of the sum."""
    total, started = [0.0], [0.0]

    def timed(phase, info):
        if phase == "start":
            started[0] = time.process_time()
        else:
            total[0] += time.process_time() - started[0]

    gc.callbacks.append(timed)
    return lambda: total[0]


def print_sql(times: dict[str, list[float]]) -> None:
    for sql, took in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        print(f"{sum(took):8.3f}s {len(took):5d}x  {sql}")


def _backend_pid():
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _cpu(pid) -> float:
    """utime + stime of a local process (the database backend serving this connection), s."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stage", choices=("http", "intake", "index", "decode", "normalize"), default="index")
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--encoding", default="protobuf")
    p.add_argument("--cprofile", default="", help="write the profile here and print its top")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--project", default="profile", help="slug of the project to index into (created if missing)")
    p.add_argument("--top", type=int, default=35)
    p.add_argument("--sql", action="store_true", help="time every SQL statement (first 60 characters)")
    p.add_argument("--growing", action="store_true",
                   help="LLM calls re-send the whole conversation so far (inputs grow to ~40 KB by step 12)")
    p.add_argument("--default-gc", action="store_true",
                   help="keep CPython's collector settings (the worker and web processes settle them: tracing.gc_tuning)")
    p.add_argument("--no-memo", action="store_true",
                   help="normalize stage: redact and split every string of every step (no per-run memo)")
    args = p.parse_args()
    settings.CELERY_BROKER_URL = ""  # nothing is queued: stored batches are indexed below, by hand
    project, _ = Project.objects.get_or_create(slug=args.project, defaults={"name": args.project})
    data = bodies(args.batches, args.encoding, int(time.time()) if args.seed < 0 else args.seed * 1000 + os.getpid(),
                  args.growing)
    n_spans = sum(len(otlp.decode(b, args.encoding).spans) for b in data)
    enc = otlp.PROTOBUF if args.encoding == "protobuf" else otlp.JSON

    batch_ids = []
    if args.stage == "index":
        for b in data:
            batch = IngestBatch.of(b, project=project, encoding=enc, span_count=512, status=IngestBatch.PENDING)
            batch.save()
            batch_ids.append(batch.id)

    parts = dict.fromkeys(("decode", "normalize", "redact", "build_step", "search_words"), 0.0)

    key = None
    if args.stage == "http":
        from tracing.models import ApiKey

        _, key = ApiKey.issue(project, name="profile")

    def work():
        if args.stage == "http":
            from unittest import mock

            from django.test import Client

            client = Client()
            with mock.patch("ingest.intake.enqueue_index"):
                for b in data:
                    r = client.post("/v1/traces", data=b, content_type="application/x-protobuf",
                                    HTTP_AUTHORIZATION=f"Bearer {key}")
                    assert r.status_code == 200, r.content
        elif args.stage == "intake":
            from unittest import mock

            with mock.patch("ingest.intake.enqueue_index"):
                for b in data:
                    assert intake.accept(project, b, encoding=enc).status == 200
        elif args.stage == "index":
            for batch_id in batch_ids:
                assert indexing.index_batch(batch_id) in ("indexed", "skipped")
        elif args.stage == "decode":
            for b in data:
                otlp.decode(b, enc, max_attribute_bytes=settings.SAGATRACE_MAX_ATTRIBUTE_BYTES)
        else:
            redact = redactor_for(project.id)
            clock = time.process_time
            clean: dict[str, set[str]] = {}  # per run, as the indexer skips strings its earlier steps held
            seen: dict[str, set[str]] = {}
            for b in data:
                t = clock()
                spans = otlp.decode(b, enc, max_attribute_bytes=settings.SAGATRACE_MAX_ATTRIBUTE_BYTES).spans
                parts["decode"] += clock() - t
                for span in spans:
                    t0 = clock()
                    d = normalize(span)
                    t1 = clock()
                    redact(d, span, None if args.no_memo else clean.setdefault(span.trace_id, set()))
                    t2 = clock()
                    step = indexer.build_step(project.id, span, d)
                    t3 = clock()
                    search.step_words(step, None if args.no_memo else seen.setdefault(span.trace_id, set()))
                    t4 = clock()
                    parts["normalize"] += t1 - t0
                    parts["redact"] += t2 - t1
                    parts["build_step"] += t3 - t2
                    parts["search_words"] += t4 - t3

    if not args.default_gc:
        gc_tuning.settle()
    gc_cpu = gc_cpu_meter()
    sql_times = time_sql() if args.sql else {}
    profiler = cProfile.Profile() if args.cprofile else None
    backend = _backend_pid()
    b0 = _cpu(backend)
    t0, c0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    work()
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    pg_cpu = _cpu(_backend_pid()) - b0 if backend and backend == _backend_pid() else None
    print(f"{args.stage}: {n_spans} spans in {wall:.2f}s wall, {cpu:.2f}s CPU of this process -> "
          f"{n_spans / wall:.0f} spans/s wall, {cpu / n_spans * 1e6:.0f} us CPU/span ({connection.vendor})"
          + (f"; its PostgreSQL backend: {pg_cpu:.2f}s CPU = {pg_cpu / n_spans * 1e6:.0f} us/span" if pg_cpu is not None else ""))
    if args.stage == "normalize":
        print("  " + ", ".join(f"{k} {v / n_spans * 1e6:.0f} us" for k, v in parts.items()) + " (CPU per span)")
    print(f"  of which the cyclic garbage collector: {gc_cpu() / n_spans * 1e6:.0f} us CPU/span")
    print_sql(sql_times)
    if profiler:
        profiler.dump_stats(args.cprofile)
        stats = pstats.Stats(args.cprofile)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
