"""The ingest benchmark in the production shape: PostgreSQL + Redis + gunicorn + Celery workers.

    .venv/bin/python bench/run_ingest.py                       # 60 s of protobuf load, defaults below
    .venv/bin/python bench/run_ingest.py --rate 3000           # offer a fixed rate instead of "as fast as possible"
    .venv/bin/python bench/run_ingest.py --overload            # shedding check (tiny backlog bound, many senders)

Creates (drops first) the database --db on the PostgreSQL server, migrates it, creates a project
and key, flushes Redis --redis (its own db number), starts gunicorn and the workers, runs
bench/loadgen.py against them, samples memory of the web and worker process trees, measures
database bytes per span and CPU use, and stops everything it started. Results: JSON on stdout
and in --out. Run by hand, never in CI.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loadgen
import procs

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[run_ingest] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK


def postgres_cpu_seconds() -> float | None:
    """CPU of the whole PostgreSQL server (every database: other users' load included): the
    postmaster's own and reaped children's time plus its live children's. None if not visible."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if stat[stat.index("(") + 1:stat.rindex(")")] == "postgres" and fields[1] == "1":  # the postmaster
            own = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK
            return own + cpu_seconds(p for p in procs.descendants(int(entry)) if p != int(entry))
    return None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def pg(admin_url: str, sql: str, params=None, db_url: str | None = None):
    import psycopg

    with psycopg.connect(db_url or admin_url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else None


def compiled_modules(env) -> str:
    """Whether the web and worker processes ran the mypyc build (tracing/native.py), or why not."""
    out = subprocess.run([PY, "-c", "from tracing import native; print(native.why_not() or 'in use')"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()[-300:]


def setup_database(args, env) -> tuple[int, str]:
    log(f"recreating database {args.db}")
    pg(args.pg, f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    pg(args.pg, f'CREATE DATABASE "{args.db}"')
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([PY, "manage.py", "create_project", "Bench agents"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    key = out.strip().splitlines()[-1].strip()
    project_id = pg(args.pg, "SELECT id FROM tracing_project ORDER BY id DESC LIMIT 1", db_url=env["DATABASE_URL"])[0][0]
    return project_id, key


def db_sizes(db_url: str) -> dict[str, int]:
    rows = pg(None, "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c WHERE c.relname = ANY(%s)",
              [["tracing_step", "ingest_ingestbatch", "tracing_run", "tracing_spendbucket"]], db_url=db_url)
    return dict(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres", help="admin connection URL")
    p.add_argument("--db", default="sagatrace_bench")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="broker + cache; FLUSHDB'd at start")
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--web-threads", type=int, default=2, help=">1 uses gunicorn's gthread worker")
    p.add_argument("--celery-procs", type=int, default=2, help="separate `celery worker` processes")
    p.add_argument("--celery-pool", default="solo", help="solo | prefork | threads")
    p.add_argument("--celery-concurrency", type=int, default=1, help="per worker process (prefork/threads)")
    p.add_argument("--prefetch", type=int, default=0, help="CELERY_WORKER_PREFETCH_MULTIPLIER (0: settings default)")
    p.add_argument("--worker-nice", type=int, default=10,
                   help="run the workers at this nice level (intake first: exporters wait on it, indexing can lag)")
    p.add_argument("--senders", type=int, default=4)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=0.0, help="offered spans/s in total (0: as fast as accepted)")
    p.add_argument("--encoding", choices=("protobuf", "json"), default="protobuf")
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--growing", action="store_true", help="agents re-send their conversation (loadgen --growing)")
    p.add_argument("--overload", action="store_true",
                   help="shedding check: SAGATRACE_MAX_PENDING_BATCHES=20, 1 worker, 16 senders, 30 s")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the web and worker processes")
    p.add_argument("--profile-worker", action="store_true", help="run each worker under cProfile (slower)")
    p.add_argument("--drain-timeout", type=float, default=600.0, help="max seconds to wait for the backlog after sending")
    p.add_argument("--out", default="", help="directory for results and logs (default: a new temp dir)")
    args = p.parse_args(argv)
    if args.overload:
        args.senders, args.duration, args.celery_procs = max(args.senders, 16), min(args.duration, 30.0), 1
        args.env = ["SAGATRACE_MAX_PENDING_BATCHES=20", *args.env]

    out = Path(args.out or tempfile.mkdtemp(prefix="sagatrace-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    db_url = args.pg.rsplit("/", 1)[0] + "/" + args.db
    env = {**os.environ, "DATABASE_URL": db_url, "CELERY_BROKER_URL": args.redis, "SAGATRACE_DATA_DIR": str(out),
           "SECRET_KEY": "bench-not-secret", "LOG_LEVEL": "WARNING", "DEBUG": "0"}
    if args.prefetch:
        env["CELERY_WORKER_PREFETCH_MULTIPLIER"] = str(args.prefetch)
    for item in args.env:
        k, _, v = item.partition("=")
        env[k] = v
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    project_id, key = setup_database(args, env)

    port = free_port()
    web_cmd = [PY, "-m", "gunicorn", "tracing.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.web_workers),
               "--timeout", "120", "--graceful-timeout", "10"]
    if args.web_threads > 1:
        web_cmd += ["--worker-class", "gthread", "--threads", str(args.web_threads)]
    web = None
    workers: list[subprocess.Popen] = []
    result: dict = {}
    try:
        web = procs.start(web_cmd, env, out / "web.log", str(ROOT))
        for i in range(args.celery_procs):
            cmd = [PY, "-m", "celery", "-A", "tracing.celery", "worker", f"--pool={args.celery_pool}",
                   f"--concurrency={args.celery_concurrency}", "--loglevel=INFO", "--without-gossip",
                   "--without-mingle", "--without-heartbeat", "-n", f"bench{i}@%h"]
            if args.profile_worker:
                cmd = [PY, "-m", "cProfile", "-o", str(out / f"worker{i}.prof"), "-m", "celery", *cmd[3:]]
            if args.worker_nice:
                cmd = ["nice", "-n", str(args.worker_nice), *cmd]
            workers.append(procs.start(cmd, env, out / f"worker{i}.log", str(ROOT)))
        procs.wait_for(lambda: _can_connect(port), 60, "gunicorn", web, out / "web.log")
        for i, w in enumerate(workers):
            log_file = out / f"worker{i}.log"
            procs.wait_for(lambda: b"ready." in log_file.read_bytes(), 60, f"celery worker {i}", w, log_file)
        time.sleep(1.0)
        log(f"web pid {web.pid} on :{port}, workers {[w.pid for w in workers]}; results in {out}")

        groups = {"web": [web.pid], "worker": [w.pid for w in workers]}
        sampler = procs.MemorySampler(groups).start()
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        busy0, total0 = machine_cpu()
        ours0 = {g: cpu_seconds(pid for r in roots for pid in procs.descendants(r)) for g, roots in groups.items()}
        self0 = cpu_seconds([os.getpid()])
        pg0 = postgres_cpu_seconds()
        lg_args = loadgen.parser().parse_args([
            "--url", f"http://127.0.0.1:{port}/v1/traces", "--key", key, "--senders", str(args.senders),
            "--duration", str(args.duration), "--rate", str(args.rate), "--encoding", args.encoding,
            "--database-url", db_url, "--project-id", str(project_id), "--drain-timeout", str(args.drain_timeout),
            *(["--gzip"] if args.gzip else []), *(["--growing"] if args.growing else []),
        ])
        # PostgreSQL's default, and production's, is on. Off (as on the CI box), nothing is ANALYZEd or vacuumed
        # while the tables grow from empty: ~10% fewer spans/s indexed at capacity (performance.md).
        autovacuum = pg(None, "SHOW autovacuum", db_url=db_url)[0][0]
        if autovacuum != "on":
            log("WARNING: PostgreSQL autovacuum is off, unlike production: ALTER SYSTEM SET autovacuum = on; "
                "SELECT pg_reload_conf(); (and RESET afterwards) to measure what a deployment sees")
        wall0 = time.monotonic()
        result = loadgen.run(lg_args)
        wall = time.monotonic() - wall0
        busy1, total1 = machine_cpu()
        pg1 = postgres_cpu_seconds()
        ours1 = {g: cpu_seconds(pid for r in roots for pid in procs.descendants(r)) for g, roots in groups.items()}
        pg_pids = [r[0] for r in pg(None, "SELECT pid FROM pg_stat_activity WHERE datname = %s", [args.db],
                                     db_url=db_url)]
        result["memory"] = sampler.stop()
        sizes = db_sizes(db_url)
        stored = max(result.get("stored_spans", 0), 1)
        raw_spans = max(pg(None, "SELECT coalesce(sum(span_count), 0) FROM ingest_ingestbatch", db_url=db_url)[0][0], 1)
        step, raw = sizes.get("tracing_step", 0) / stored, sizes.get("ingest_ingestbatch", 0) / raw_spans
        result["db_bytes"] = sizes
        result["db_bytes_per_span"] = {
            "step": round(step), "ingestbatch_raw": round(raw), "step_plus_raw": round(step + raw),
            "run_and_spend_tables": round((sizes.get("tracing_run", 0) + sizes.get("tracing_spendbucket", 0)) / stored),
        }
        ncpu = os.cpu_count() or 1
        result["cpu"] = {
            "wall_s": round(wall, 1),
            "machine_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1),
            "cores": ncpu,
            "web_cpu_s": round(ours1["web"] - ours0["web"], 1),
            "worker_cpu_s": round(ours1["worker"] - ours0["worker"], 1),
            "loadgen_cpu_s": round(cpu_seconds([os.getpid()]) - self0, 1),
            "pg_backends_of_bench_db_cpu_s_alive_at_end": round(cpu_seconds(pg_pids), 1),
            "postgres_server_cpu_s_all_databases": round(pg1 - pg0, 1) if pg0 is not None and pg1 is not None else None,
            "loadavg_before": load_before,
            "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        }
        result["setup"] = {"web": " ".join(web_cmd[2:]), "celery_procs": args.celery_procs,
                           "celery_pool": args.celery_pool, "celery_concurrency": args.celery_concurrency,
                           "prefetch": env.get("CELERY_WORKER_PREFETCH_MULTIPLIER", "settings default"),
                           "worker_nice": args.worker_nice,
                           "env": args.env, "overload": args.overload,
                           "postgres_autovacuum": autovacuum, "compiled_modules": compiled_modules(env)}
    finally:
        for w in workers:
            procs.stop(w, 60 if args.profile_worker else 20)
        procs.stop(web)
    text = json.dumps(result, indent=2, default=str)
    (out / "result.json").write_text(text)
    print(text)
    log(f"written {out / 'result.json'}")
    summary(result)


def summary(r):
    if not r:
        return
    lat, aq, mem = r.get("latency_ms_2xx", {}), r.get("accept_to_queryable_s", {}), r.get("memory", {})
    log("---- summary ----")
    log(f"accepted {r['accepted_spans']} spans = {r['accepted_spans_per_s']}/s; statuses {r['status_counts']}")
    log(f"intake latency 2xx p50/p95/p99 ms: {lat.get('p50')}/{lat.get('p95')}/{lat.get('p99')}")
    log(f"end to end {r.get('e2e_spans_per_s')} spans/s; accept->queryable p50/p95/max s: "
        f"{aq.get('p50')}/{aq.get('p95')}/{aq.get('max')}; not yet queryable {r.get('not_yet_queryable_spans')}, "
        f"lost {r.get('lost_spans')}; batches {r.get('batches')}")
    log(f"peak RSS web+worker MiB (sum of sampled RSS): {mem.get('peak_sum_rss_mib')}; PSS: {mem.get('peak_sum_pss_mib')}")
    log(f"db bytes/span: {r.get('db_bytes_per_span')}; cpu: {r.get('cpu')}")


def _can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
