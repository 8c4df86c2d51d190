"""Page timings at scale on PostgreSQL: 10,000 runs / 1,000,000 steps, then server time and queries.

    .venv/bin/python bench/pages.py --load --no-time   # (re)create database sagatrace_pages and load it (~7 min)
    .venv/bin/python bench/pages.py --browser          # time the pages (and the run page in Chromium)

Loading is bulk generation straight into the database with COPY (not through the ingest path:
that is bench/run_ingest.py's job): Runs with their aggregates computed as the indexer would,
Steps with short realistic content (~300-character messages, so 1 M steps stay a few GB) and
their runs' search documents from tracing.search, the tracing_step secondary indexes dropped during
the COPY and rebuilt after (how one bulk-loads PostgreSQL), then the spend buckets built by
tracing.spend itself, so the spend page reads what the indexer would have written. Runs start
over the last 90 days. Three extra runs: one of 2,000 steps (the run page) and two similar ones of
1,000 steps (the diff).

Timing uses Django's test Client in-process (server time: middleware, views, queries, templates;
no network or browser), logged in as a project member; each page is requested --warmup times,
then --repeat times: p50/p95 and the number of SQL queries. Pages that do not exist yet are
skipped and said so. Run by hand, never in CI.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
# Message text: words drawn from a 5,000-word vocabulary with Zipf frequencies (as in real text),
# the named words below placed at ranks 40-400 (common but not everywhere), the rest pseudo-words.
NAMED = ("refund invoice shipment weather flight hotel booking ticket password reset database query latency "
         "timeout retry customer account balance transfer report summary analysis forecast budget schedule "
         "meeting calendar travel lisbon tokyo berlin paris madrid reykjavik python error stack trace deploy "
         "release rollback migration index cache memory cluster node pod container kubernetes terraform").split()
_SYL = ["ka", "to", "ri", "men", "sul", "par", "ex", "lo", "vi", "tan", "cor", "de", "ni", "bo", "fla", "gen",
        "ut", "sta", "pro", "qui", "mo", "ther", "al", "is", "ver", "on", "an", "ce", "ty", "ing"]


def _vocabulary(seed=7, size=5000):
    rng = random.Random(seed)
    words: list[str] = []
    seen = set(NAMED)
    while len(words) < size - len(NAMED):
        w = "".join(rng.choice(_SYL) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    for i, w in enumerate(NAMED):
        words.insert(40 + i * 8, w)
    weights, total = [], 0.0
    for rank in range(1, len(words) + 1):
        total += 1.0 / rank
        weights.append(total)
    return words, weights


WORDS, _CUM_WEIGHTS = _vocabulary()
RARE_WORD = "zanzibarite"  # in ~0.2% of LLM steps: a selective full-text search
AGENTS = ["support-bot", "research-agent", "coder", "travel-assistant", "sales-agent", "triage"]
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-20250514"),
          ("openai", "o4-mini")]
TOOLS = ["search_web", "read_file", "run_sql", "fetch_url", "send_email", "write_file"]


def log(msg):
    print(f"[pages] {msg}", file=sys.stderr, flush=True)


def setup_django(db_url: str):
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracing.settings")
    os.environ.setdefault("SECRET_KEY", "bench-not-secret")
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()


# --- loading ------------------------------------------------------------------------------------


def sentence(rng, n_words):
    return " ".join(rng.choices(WORDS, cum_weights=_CUM_WEIGHTS, k=n_words))


def gen_run(rng, trace_id, n_steps, started, agent, user, session, tags, rare_rate, fixed_seed=None):
    """(run values, [step values]) for one run; steps in order, root first."""
    from tracing import pricing
    from tracing.indexer import ns_to_datetime

    r = random.Random(fixed_seed) if fixed_seed is not None else rng
    t0 = int(started.timestamp() * 1e9)
    root = f"{r.getrandbits(64):016x}"
    steps = []
    t = t0 + 1_000_000
    provider, model = r.choice(MODELS)
    while len(steps) < n_steps - 1:
        span_id = f"{r.getrandbits(64):016x}"
        dur = r.randint(300, 3000) * 1_000_000
        is_error = r.random() < 0.03
        n_calls = r.choice((0, 1, 1, 2)) if len(steps) + 3 < n_steps else 0
        calls = [{"id": f"call_{r.getrandbits(40):010x}", "name": r.choice(TOOLS), "arguments": {"q": sentence(r, 4)}}
                 for _ in range(n_calls)]
        text_in = sentence(r, 45) + (f" {RARE_WORD}" if rng.random() < rare_rate else "")
        text_out = sentence(r, 45)
        inp, cr, out, rs = r.randint(800, 4000), r.randint(0, 400), r.randint(100, 700), r.randint(0, 90)
        cost = pricing.price(provider=provider, model=model, input_tokens=inp, cache_read_tokens=cr, output_tokens=out,
                             reasoning_tokens=rs, at=ns_to_datetime(t))
        steps.append(dict(
            span_id=span_id, parent_span_id=root, name=f"chat {model}", kind="llm", operation="chat",
            is_error=is_error, start_ns=t, end_ns=t + dur, model=model, request_model=model, provider=provider,
            input_tokens=inp, output_tokens=out, cache_read_tokens=cr, cache_write_tokens=None, reasoning_tokens=rs,
            cost_usd=cost.total, cost_source=cost.source, cost_breakdown=cost.breakdown, cost_note=cost.note,
            price_version=cost.price_version,
            input=[{"role": "user", "parts": [{"type": "text", "content": text_in}]}],
            output=[{"role": "assistant", "parts": [{"type": "text", "content": text_out}] + [
                {"type": "tool_call", **c} for c in calls], "finish_reason": "tool_call" if calls else "stop"}],
            tool_calls=calls, finish_reasons=["tool_call" if calls else "stop"],
            error_type="RateLimitError" if is_error else "", error_message="429 from provider" if is_error else "",
        ))
        t += dur + 2_000_000
        for call in calls:
            dur = r.randint(20, 900) * 1_000_000
            is_error = r.random() < 0.03
            steps.append(dict(
                span_id=f"{r.getrandbits(64):016x}", parent_span_id=root, name=f"execute_tool {call['name']}",
                kind="tool", operation="execute_tool", is_error=is_error, start_ns=t, end_ns=t + dur,
                tool_name=call["name"], tool_call_id=call["id"], tool_arguments=call["arguments"],
                tool_result={"items": [sentence(r, 20) for _ in range(2)]},
                error_type="TimeoutError" if is_error else "", error_message="no answer in 30 s" if is_error else "",
            ))
            t += dur + 2_000_000
    end = t + 1_000_000
    run_error = rng.random() < 0.05
    steps.insert(0, dict(span_id=root, parent_span_id="", name=f"invoke_agent {agent}", kind="agent",
                         operation="invoke_agent", is_error=run_error, start_ns=t0, end_ns=end, agent_name=agent,
                         session_id=session, user_id=user, tags=tags,
                         error_type="AgentError" if run_error else "", error_message=""))
    llm = [s for s in steps if s["kind"] == "llm"]
    costs = [s["cost_usd"] for s in llm if s["cost_usd"] is not None]
    run = dict(
        trace_id=trace_id, root_span_id=root, name=f"invoke_agent {agent}", agent=agent, service="bench-agents",
        status="error" if run_error else "ok", started_at=started, ended_at=ns_to_datetime(end),
        duration_ms=(end - t0) / 1e6, steps=len(steps), llm_calls=len(llm),
        tool_calls=sum(s["kind"] == "tool" for s in steps), errors=sum(s["is_error"] for s in steps),
        input_tokens=sum(s["input_tokens"] for s in llm), output_tokens=sum(s["output_tokens"] for s in llm),
        cache_read_tokens=sum(s["cache_read_tokens"] for s in llm), cache_write_tokens=0,
        reasoning_tokens=sum(s["reasoning_tokens"] for s in llm), cost_usd=sum(costs) if costs else None,
        unpriced_calls=len(llm) - len(costs), models_used=[model], session_id=session, user_id=user, tags=tags,
        last_seen_at=ns_to_datetime(end),
    )
    return run, steps


class Copier:
    """COPY rows of one model's table, JSON fields serialised with orjson, defaults filled in."""

    def __init__(self, cursor, model, extra_defaults=None):
        import orjson
        from django.db import models as m

        self.fields = [f for f in model._meta.concrete_fields if f.name != "id"]
        self.json = {f.attname for f in self.fields if isinstance(f, m.JSONField)}
        self.defaults = {f.attname: f.get_default() for f in self.fields} | (extra_defaults or {})
        self.dumps = lambda v: None if v is None else orjson.dumps(v).decode()
        cols = ", ".join(f.column for f in self.fields)
        self._cm = cursor.copy(f"COPY {model._meta.db_table} ({cols}) FROM STDIN")
        self.copy = self._cm.__enter__()

    def write(self, values: dict):
        row = []
        for f in self.fields:
            v = values.get(f.attname, self.defaults[f.attname])
            row.append(self.dumps(v) if f.attname in self.json else v)
        self.copy.write_row(row)

    def close(self):
        self._cm.__exit__(None, None, None)


def load(args):
    import psycopg

    db_url = args.pg.rsplit("/", 1)[0] + "/" + args.db
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    setup_django(db_url)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from tracing import search
    from tracing.models import ApiKey, Membership, Project, Run, SearchDocument, Step

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="Bench pages", slug="bench", retention_days=3650)
    user = get_user_model().objects.create_user("bench", password="bench-password")
    Membership.objects.create(user=user, project=project, role=Membership.ADMIN)
    _, key = ApiKey.issue(project, name="bench")
    rng = random.Random(args.seed)
    now = datetime.now(dt_timezone.utc).replace(microsecond=0)
    per_run = (args.steps - 4000) / args.runs * 1.01  # int(gauss) rounds down: aim a little high
    specials = [("big", 2000, None), ("diff_a", 1000, 42), ("diff_b", 1000, 42)]

    with connection.cursor() as cur:  # secondary indexes (not the constraints'): rebuilt after the COPY
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('tracing_step', 'tracing_searchdocument')"
                    " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid IN"
                    " ('tracing_step'::regclass, 'tracing_searchdocument'::regclass))")
        dropped = cur.fetchall()
        for name, _ in dropped:
            cur.execute(f'DROP INDEX "{name}"')
        indexes = [sql for _, sql in dropped]
        log(f"dropped {[name for name, _ in dropped]} for the load; will recreate")

    t0 = time.time()
    trace_ids, special_ids, runs, n_steps, documents = [], {}, [], 0, []
    with connection.cursor() as cur:  # steps stream out as they are generated; the 10,000 runs follow
        steps_copy = Copier(cur.cursor, Step, {"project_id": project.id, "convention": "genai",
                                               "service_name": "bench-agents"})
        for i in range(args.runs + len(specials)):
            trace_id = f"{rng.getrandbits(128):032x}"
            seed = None
            if i < len(specials):
                label, n, seed = specials[i]
                special_ids[label] = trace_id
                started = now - timedelta(hours=2 + i)
            else:
                n = max(3, int(rng.gauss(per_run, per_run / 4)))
                started = now - timedelta(seconds=rng.randint(3600, 90 * 86400))
            agent = rng.choice(AGENTS)
            tags = rng.sample(["prod", "beta", "eval", "vip"], rng.randint(0, 2))
            run, steps = gen_run(rng, trace_id, n, started, agent, f"user-{rng.randrange(500)}",
                                 f"sess-{rng.randrange(3000)}", tags, args.rare_rate, seed)
            if i == 2:  # diff_b: diff_a's run again, its answers and model changed after step 600
                for step in steps[600:]:
                    if step["kind"] == "llm":
                        step["output"][0]["parts"][0]["content"] = sentence(rng, 45)
                        step["model"] = "gpt-4.1-mini"
            words = set()
            for step in steps:
                step["trace_id"] = trace_id
                step["version"] = (step["end_ns"] // 1000) * 1024
                words |= search.step_words(_Doc(step))
                steps_copy.write(step)
            documents.append({"trace_id": trace_id, "words": search.document(words)})  # as if indexed at once
            runs.append(run)
            trace_ids.append(trace_id)
            n_steps += len(steps)
            if (i + 1) % 1000 == 0:
                log(f"  {i + 1} runs, {n_steps} steps generated and copied ({time.time() - t0:.0f}s)")
        steps_copy.close()
        runs_copy = Copier(cur.cursor, Run, {"project_id": project.id})
        for run in runs:
            runs_copy.write(run)
        runs_copy.close()
        docs_copy = Copier(cur.cursor, SearchDocument, {"project_id": project.id})
        for doc in documents:
            docs_copy.write(doc)
        docs_copy.close()
    log(f"copied {len(trace_ids)} runs, {n_steps} steps in {time.time() - t0:.0f}s; recreating indexes")
    t1 = time.time()
    with connection.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        for sql in indexes:
            cur.execute(sql)
        cur.execute("ANALYZE")
    log(f"indexes rebuilt in {time.time() - t1:.0f}s; building spend buckets with tracing.spend")
    t2 = time.time()
    try:
        from django.db import transaction

        from tracing.spend import recompute_buckets

        for i in range(0, len(trace_ids), 250):
            with transaction.atomic():
                recompute_buckets(project.id, trace_ids[i:i + 250])
        spend = f"built in {time.time() - t2:.0f}s"
    except Exception as exc:  # the spend code is someone else's and may be mid-change
        spend = f"NOT built: {type(exc).__name__}: {exc}"
    log(f"spend buckets {spend}")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        size = cur.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    meta = {"db": args.db, "project": project.slug, "api_key": key, "runs": len(trace_ids), "steps": n_steps,
            "special": special_ids, "rare_word": RARE_WORD, "spend": spend, "db_bytes": size,
            "load_seconds": round(time.time() - t0), "loaded_at": now.isoformat()}
    Path(args.meta).write_text(json.dumps(meta, indent=2))
    log(f"loaded: {meta}")


class _Doc:
    """What search.step_words reads of a Step, from a values dict."""

    def __init__(self, values):
        self.v = values

    def __getattr__(self, name):
        return self.v.get(name, "" if name in ("name", "tool_name", "error_message", "reasoning") else None)


# --- timing -------------------------------------------------------------------------------------------


def time_pages(args):
    meta = json.loads(Path(args.meta).read_text())
    db_url = args.pg.rsplit("/", 1)[0] + "/" + meta["db"]
    setup_django(db_url)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    slug, sp = meta["project"], meta["special"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {meta['api_key']}"}

    def url(name, *a, query=""):
        try:
            return reverse(name, args=a) + query
        except NoReverseMatch:
            return None

    pages = [
        ("runs list, default view", url("runs", slug), {}),
        ("runs list, filtered (agent + status=error + 30d)", url("runs", slug, query="?agent=coder&status=error&range=30d"), {}),
        ("runs list, filtered by model, sorted by cost", url("runs", slug, query="?model=gpt-4o&sort=-cost"), {}),
        ("runs list, full-text search (rare word)", url("runs", slug, query=f"?q={meta['rare_word']}"), {}),
        ("runs list, full-text search (two mid-frequency words)", url("runs", slug, query="?q=refund+invoice"), {}),
        ("runs list, full-text search (the most common word: matches most steps)",
         url("runs", slug, query=f"?q={WORDS[0]}"), {}),
        ("run page, 2,000 steps", url("run", slug, sp["big"]), {}),
        ("API GET /api/v1/runs (default page)", url("api-runs"), auth),
        ("API GET /api/v1/runs/<trace_id> (2,000 steps)", url("api-run", sp["big"]), auth),
        ("diff page, two 1,000-step runs", url("diff", slug, query=f"?a={sp['diff_a']}&b={sp['diff_b']}"), {}),
        ("API GET /api/v1/diff (two 1,000-step runs)", url("api-diff", query=f"?a={sp['diff_a']}&b={sp['diff_b']}"), auth),
        ("spend page, 90 days", url("spend", slug, query="?range=90d"), {}),
        ("spend page, 90 days grouped by tool", url("spend", slug, query="?range=90d&group_by=tool"), {}),
    ]
    results = []
    for label, path, headers in pages:
        if path is None:
            log(f"SKIP {label}: no such URL yet")
            results.append({"page": label, "skipped": "no such URL yet"})
            continue
        times, queries, status, size = [], 0, None, 0
        rounds = args.warmup + args.repeat
        i = 0
        while i < rounds:
            with CaptureQueriesContext(connection) as ctx:
                t = time.perf_counter()
                response = client.get(path, **headers)
                body = b"".join(response.streaming_content) if response.streaming else response.content
                elapsed = time.perf_counter() - t
            status, size = response.status_code, len(body)
            if i >= args.warmup:
                times.append(elapsed * 1000)
                queries = len(ctx.captured_queries)
            elif elapsed > args.slow:  # a multi-second page: a few rounds say enough
                rounds = min(rounds, args.warmup + 3)
            i += 1
        row = {"page": label, "path": path, "status": status, "bytes": size, "queries": queries,
               "p50_ms": round(statistics.median(times), 1), "p95_ms": round(_pct(times, 95), 1),
               "max_ms": round(max(times), 1)}
        results.append(row)
        log(f"{label}: {row['p50_ms']} / {row['p95_ms']} ms p50/p95, {queries} queries, status {status}")
    if args.browser:
        results.append(_browser(meta, db_url, url("run", slug, sp["big"]), args))
    out = {"meta": {k: v for k, v in meta.items() if k != "api_key"}, "repeat": args.repeat, "pages": results,
           "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))


def _browser(meta, db_url, path, args):
    """The 2,000-step run page in headless Chromium against gunicorn: DOMContentLoaded, first
    step row on screen, and every row loaded (the tree streams in chunks)."""
    import socket
    import subprocess

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"page": "browser: run page, 2,000 steps", "skipped": "playwright not installed"}
    if not Path(args.chromium).exists():
        return {"page": "browser: run page, 2,000 steps", "skipped": f"no browser at {args.chromium}"}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "bench-not-secret", "DEBUG": "0"}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "tracing.wsgi", "--bind", f"127.0.0.1:{port}",
                            "--workers", "2", "--threads", "2", "--worker-class", "gthread"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        rows: dict[str, list[float]] = {"dom_content_loaded_ms": [], "first_row_ms": [], "all_rows_ms": [],
                                        "load_event_ms": []}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)  # to poll the DOM
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "bench-password")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            for i in range(args.warmup + 5):
                t = time.perf_counter()
                page.goto(base + path, wait_until="domcontentloaded")
                dcl = time.perf_counter() - t
                page.wait_for_selector("tr.step", state="visible")
                first = time.perf_counter() - t
                page.wait_for_function("document.querySelectorAll('tr.step').length >= 2000 "
                                       "&& !document.querySelector('tr.more-rows')", timeout=60_000)
                every = time.perf_counter() - t
                page.wait_for_load_state("load")
                loaded = time.perf_counter() - t
                if i >= args.warmup:
                    for key, v in zip(rows, (dcl, first, every, loaded)):
                        rows[key].append(v * 1000)
            browser.close()
        return {"page": "browser: run page, 2,000 steps (headless Chromium, gunicorn)",
                **{k: round(statistics.median(v), 1) for k, v in rows.items()}}
    finally:
        os.killpg(web.pid, 15)
        web.wait(20)


def _pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg", default=PG_ADMIN, help="admin connection URL")
    p.add_argument("--db", default="sagatrace_pages")
    p.add_argument("--load", action="store_true", help="drop, create and load the database first")
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--rare-rate", type=float, default=0.002)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--meta", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "sagatrace_pages.json"),
                   help="what --load writes (ids, key) and timing reads")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--slow", type=float, default=3.0, help="seconds: a page slower than this is timed 3 times only")
    p.add_argument("--no-time", action="store_true", help="load only")
    p.add_argument("--browser", action="store_true", help="also time the run page in headless Chromium")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--out", default="")
    args = p.parse_args()
    if args.load:
        load(args)
        if args.no_time:
            return
        # Timing in a fresh process state would need a re-exec; the same process is fine (connections reused).
    time_pages(args)


if __name__ == "__main__":
    main()
