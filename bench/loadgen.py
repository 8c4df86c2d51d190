"""OTLP load generator for Sagatrace: realistic agent traces, sent like BatchSpanProcessor.

    .venv/bin/python bench/loadgen.py --url http://127.0.0.1:8000/v1/traces --key st_... \\
        --database-url postgres://postgres@127.0.0.1:5432/sagatrace_bench --senders 4 --duration 60

Run by hand (bench/run_ingest.py starts the whole production shape around it); never in CI.

Traces: a root `invoke_agent` span and 12 steps, each an LLM `chat` span (~2 KB of
gen_ai.input.messages and ~2 KB of gen_ai.output.messages, cached and reasoning tokens)
followed by 0-2 `execute_tool` spans (~1 KB results); ~5% of spans are errors. Many agents
run at once, so spans of a trace are spread over consecutive batches, in end order (root
last), 512 spans a request — what the OpenTelemetry SDK's BatchSpanProcessor sends.

Bodies are built once (a "cycle" of a few batches, ~160 interleaved traces) and every send
patches fresh random trace/span ids into them at recorded byte offsets, so the client spends
almost no CPU per request on a machine it shares with the server.

Queryable: a batch is indexed in one transaction (its Steps, its Runs, the batch row), so the
batch is queryable when any one of its spans is; the poller checks one sentinel span per
accepted batch against tracing_step (by the unique (project, trace, span) index) every
--poll-interval, and at the end counts every stored Step of the project against the
accepted spans (nothing accepted may be lost).
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

STEPS_PER_TRACE = 12
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-20250514"),
          ("openai", "o4-mini")]
TOOLS = ["search_web", "read_file", "run_sql", "fetch_url", "send_email", "write_file"]
AGENTS = ["support-bot", "research-agent", "coder", "travel-assistant"]
_SYLLABLES = ["ka", "to", "ri", "men", "sul", "par", "ex", "lo", "vi", "tan", "cor", "de", "ni", "bo", "fla",
              "gen", "ut", "sta", "pro", "qui", "mo", "ther", "al", "is", "ver", "on", "an", "ce", "ty", "ing"]


# --- trace templates ---------------------------------------------------------------------------


class Text:
    """Pseudo-English from a fixed vocabulary (compresses like prose, unlike 'xxxx'); a slice of
    a 1 MB corpus at a random offset, so building a cycle stays fast."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
                 for _ in range(3000)]
        out, size = [], 0
        while size < 1_000_000:
            sentence = " ".join(rng.choice(words) for _ in range(rng.randint(6, 18)))
            sentence = sentence.capitalize() + rng.choice((". ", ". ", "? ", ", and "))
            out.append(sentence)
            size += len(sentence)
        self.corpus = "".join(out)

    def __call__(self, n_chars: int) -> str:
        start = self.rng.randrange(len(self.corpus) - n_chars)
        return self.corpus[start:start + n_chars]


def _any(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        v = AnyValue()
        v.array_value.values.extend(_any(x) for x in value)
        return v
    return AnyValue(string_value=str(value))


@dataclass
class SpanSpec:
    trace: int  # index of the trace placeholder
    span: int  # index of the span placeholder
    parent: int | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attrs: dict
    error: str = ""


def _trace(rng: random.Random, text: Text, trace_ix: int, next_span: list[int], t0: int, agent: str,
           growing: bool = False) -> list[SpanSpec]:
    """One agent run: root + 12 × (LLM call, 0-2 tool calls), span times in ns. `growing`: each LLM
    call re-sends the whole conversation so far (user turns, answers, tool results), as chat agents
    do; otherwise the system prompt and the last answer (steps of about the same size)."""
    provider, model = rng.choice(MODELS)
    root = next_span[0]
    next_span[0] += 1
    spans, t = [], t0
    session = f"sess-{rng.randrange(10**6)}"
    history = [{"role": "system", "parts": [{"type": "text", "content": text(380)}]}]
    for step in range(STEPS_PER_TRACE):
        llm = next_span[0]
        next_span[0] += 1
        n_tools = rng.choice((0, 1, 1, 2))
        calls = [(f"call_{rng.getrandbits(48):012x}", rng.choice(TOOLS)) for _ in range(n_tools)]
        input_messages = history + [{"role": "user", "parts": [{"type": "text", "content": text(1450)}]}]
        output_parts = [{"type": "reasoning", "content": text(300)}, {"type": "text", "content": text(1450)}]
        output_parts += [{"type": "tool_call", "id": cid, "name": tool, "arguments": {"query": text(60), "limit": 5}}
                         for cid, tool in calls]
        output_messages = [{"role": "assistant", "parts": output_parts,
                            "finish_reason": "tool_call" if calls else "stop"}]
        input_tokens = rng.randint(900, 3200)
        output_tokens = rng.randint(300, 700)
        dur = rng.randint(400, 2500) * 1_000_000
        error = "RateLimitError: 429 from provider" if rng.random() < 0.05 else ""
        attrs = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
            "gen_ai.response.model": model, "gen_ai.response.id": f"resp_{rng.getrandbits(64):016x}",
            "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 1024,
            "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.usage.cache_read.input_tokens": rng.randint(0, input_tokens // 2),
            "gen_ai.usage.reasoning.output_tokens": rng.randint(50, output_tokens // 3),
            "gen_ai.response.finish_reasons": ["tool_call" if calls else "stop"],
            "gen_ai.input.messages": json.dumps(input_messages),
            "gen_ai.output.messages": json.dumps(output_messages),
            "server.address": "api.openai.com" if provider == "openai" else "api.anthropic.com",
        }
        if error:
            attrs["error.type"] = "RateLimitError"
        spans.append(SpanSpec(trace_ix, llm, root, f"chat {model}", 3, t, t + dur, attrs, error))
        t += dur + rng.randint(1, 20) * 1_000_000
        for cid, tool in calls:
            span_ix = next_span[0]
            next_span[0] += 1
            dur = rng.randint(20, 900) * 1_000_000
            error = "TimeoutError: tool did not answer in 30 s" if rng.random() < 0.05 else ""
            attrs = {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": cid,
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.arguments": json.dumps({"query": text(60), "limit": 5}),
                "gen_ai.tool.call.result": json.dumps({"items": [text(230) for _ in range(4)]}),
            }
            if error:
                attrs["error.type"] = "TimeoutError"
            spans.append(SpanSpec(trace_ix, span_ix, root, f"execute_tool {tool}", 1, t, t + dur, attrs, error))
            t += dur + rng.randint(1, 20) * 1_000_000
        if growing:
            history = input_messages + output_messages + [
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": cid, "response": "done"}]}
                for cid, _ in calls]
        else:
            history = history[:1] + [{"role": "assistant", "parts": [{"type": "text", "content": text(120)}]}]
    error = "agent gave up after a failed step" if rng.random() < 0.05 else ""
    spans.append(SpanSpec(trace_ix, root, None, f"invoke_agent {agent}", 1, t0, t + 5_000_000, {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.conversation.id": session,
        "user.id": f"user-{rng.randrange(200)}", "gen_ai.provider.name": provider,
    }, error))
    return spans


@dataclass
class Template:
    """One request body with placeholder ids, and where each placeholder sits in it."""

    body: bytes
    spans: int
    # [(offset, placeholder index)] per id kind; trace ids and span ids are separate namespaces.
    trace_at: list[tuple[int, int]]
    span_at: list[tuple[int, int]]
    sentinel: tuple[int, int]  # (trace placeholder, span placeholder) of one span in the body


@dataclass
class Cycle:
    templates: list[Template]
    n_traces: int
    n_spans_ids: int
    trace_ph: list[bytes]  # placeholder bytes as they appear in bodies
    span_ph: list[bytes]
    encoding: str


def build_cycle(seed: int, batches: int = 8, batch_size: int = 512, encoding: str = "protobuf",
                concurrency: int = 32, growing: bool = False) -> Cycle:
    """~batches×batch_size spans of interleaved traces (about `concurrency` agents in flight),
    in end order, cut into requests of batch_size spans."""
    rng = random.Random(seed)
    text = Text(rng)
    now = time.time_ns()
    all_spans: list[SpanSpec] = []
    next_span = [0]
    trace_ix = 0
    target = batches * batch_size
    while len(all_spans) < target:
        # Staggered starts: each trace lasts ~25 s, a new one starts every ~25/concurrency s.
        t0 = now - 120 * 10**9 + trace_ix * (25 * 10**9 // concurrency)
        all_spans += _trace(rng, text, trace_ix, next_span, t0, rng.choice(AGENTS), growing)
        trace_ix += 1
    all_spans.sort(key=lambda s: s.end_ns)
    all_spans = all_spans[:target]  # a trace cut off here simply never gets its root: "in progress"
    trace_ph = [os.urandom(16) for _ in range(trace_ix)]
    span_ph = [os.urandom(8) for _ in range(next_span[0])]
    templates = []
    for b in range(batches):
        chunk = all_spans[b * batch_size:(b + 1) * batch_size]
        if chunk:
            templates.append(_template(chunk, trace_ph, span_ph, encoding))
    return Cycle(templates, trace_ix, next_span[0], trace_ph, span_ph, encoding)


def _template(chunk: list[SpanSpec], trace_ph, span_ph, encoding) -> Template:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (("service.name", "bench-agents"), ("service.version", "1.4.2"),
                 ("deployment.environment.name", "bench"), ("telemetry.sdk.language", "python"),
                 ("telemetry.sdk.name", "opentelemetry"), ("telemetry.sdk.version", "1.45.2")):
        rs.resource.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.openai_v2"
    ss.scope.version = "2.1b0"
    for s in chunk:
        span = Span(trace_id=trace_ph[s.trace], span_id=span_ph[s.span], name=s.name, kind=s.kind,
                    start_time_unix_nano=s.start_ns, end_time_unix_nano=s.end_ns)
        if s.parent is not None:
            span.parent_span_id = span_ph[s.parent]
        for k, v in s.attrs.items():
            span.attributes.append(KeyValue(key=k, value=_any(v)))
        if s.error:
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=s.error))
        ss.spans.append(span)
    body = req.SerializeToString()
    traces = sorted({s.trace for s in chunk})
    span_ixs = sorted({s.span for s in chunk} | {s.parent for s in chunk if s.parent is not None})
    if encoding == "json":
        body = _to_json(req)
        trace_key = {t: trace_ph[t].hex().encode() for t in traces}
        span_key = {s: span_ph[s].hex().encode() for s in span_ixs}
    else:
        trace_key = {t: trace_ph[t] for t in traces}
        span_key = {s: span_ph[s] for s in span_ixs}
    trace_at, span_at = _id_offsets(body, trace_key, span_key, encoding)
    return Template(body, len(chunk), trace_at, span_at, (chunk[0].trace, chunk[0].span))


def _id_offsets(body: bytes, trace_key: dict, span_key: dict, encoding: str):
    """Where each placeholder id sits: after its protobuf field tag, or as a JSON hex string."""
    traces = {v: k for k, v in trace_key.items()}
    spans = {v: k for k, v in span_key.items()}
    trace_at, span_at = [], []
    if encoding == "json":
        for m in re.finditer(rb'"(traceId|spanId|parentSpanId)":"([0-9a-f]+)"', body):
            table, out = (traces, trace_at) if m.group(1) == b"traceId" else (spans, span_at)
            out.append((m.start(2), table[m.group(2)]))
        return trace_at, span_at
    # Span fields 1 (trace_id, 16 bytes), 2 (span_id, 8) and 4 (parent_span_id, 8).
    for tag, size, table, out in ((b"\x0a\x10", 16, traces, trace_at), (b"\x12\x08", 8, spans, span_at),
                                  (b"\x22\x08", 8, spans, span_at)):
        i = body.find(tag)
        while i >= 0:
            ix = table.get(body[i + 2:i + 2 + size])
            if ix is not None:
                out.append((i + 2, ix))
            i = body.find(tag, i + 1)
    return trace_at, span_at


def _to_json(req: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as exporters write it: hex ids, camelCase, int64 as strings."""
    from google.protobuf.json_format import MessageToDict

    data = MessageToDict(req)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = __import__("base64").b64decode(s[key]).hex()
    return json.dumps(data, separators=(",", ":")).encode()


class Instance:
    """A cycle with fresh ids: one agent fleet's next ~4,000 spans."""

    def __init__(self, cycle: Cycle):
        self.cycle = cycle
        self.trace_ids = [os.urandom(16) for _ in range(cycle.n_traces)]
        self.span_ids = [os.urandom(8) for _ in range(cycle.n_spans_ids)]

    def body(self, i: int) -> tuple[bytes, tuple[str, str], int]:
        """(request body, sentinel (trace hex, span hex), span count) of the cycle's i-th batch."""
        tpl = self.cycle.templates[i]
        buf = bytearray(tpl.body)
        js = self.cycle.encoding == "json"
        for off, t in tpl.trace_at:
            new = self.trace_ids[t].hex().encode() if js else self.trace_ids[t]
            buf[off:off + len(new)] = new
        for off, s in tpl.span_at:
            new = self.span_ids[s].hex().encode() if js else self.span_ids[s]
            buf[off:off + len(new)] = new
        t, s = tpl.sentinel
        return bytes(buf), (self.trace_ids[t].hex(), self.span_ids[s].hex()), tpl.spans


# --- sending -------------------------------------------------------------------------------------


@dataclass
class Sent:
    started: float
    latency: float
    status: int
    spans: int
    sentinel: tuple[str, str] | None = None
    retry_after: str | None = None


@dataclass
class Stats:
    sends: list[Sent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def sender(ix: int, args, cycle: Cycle, stats: Stats, poller: "Poller | None", t_start: float, deadline: float,
           max_requests: int = 0):
    url = urlparse(args.url)
    headers = {"Content-Type": "application/json" if cycle.encoding == "json" else "application/x-protobuf",
               "Authorization": f"Bearer {args.key}"}
    if args.gzip:
        headers["Content-Encoding"] = "gzip"
    conn = None
    interval = (args.batch * args.senders / args.rate) if args.rate and not max_requests else 0.0
    next_at = t_start + (interval * ix / args.senders if interval else 0)
    sent = 0
    max_requests = max_requests or args.max_requests
    while time.monotonic() < deadline and (not max_requests or sent < max_requests):
        instance = Instance(cycle)
        for i in range(len(cycle.templates)):
            if time.monotonic() >= deadline or (max_requests and sent >= max_requests):
                break
            body, sentinel, n = instance.body(i)
            if args.gzip:
                body = gzip.compress(body, compresslevel=1)
            while time.monotonic() < deadline:  # an exporter retries a 429/503 after Retry-After
                if interval:
                    now = time.monotonic()
                    if next_at > now:
                        time.sleep(next_at - now)
                    next_at = max(next_at + interval, time.monotonic() - 1.0)  # no catch-up storm
                t0 = time.monotonic()
                for fresh in (False, True):  # a kept-alive connection the server closed: reconnect once
                    reused = conn is not None and not fresh
                    if conn is None:
                        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=args.timeout)
                    try:
                        conn.request("POST", url.path, body=body, headers=headers)
                        resp = conn.getresponse()
                        resp.read()
                        status, retry = resp.status, resp.getheader("Retry-After")
                        break
                    except (OSError, http.client.HTTPException) as exc:
                        status, retry = 0, None
                        conn.close()
                        conn = None
                        if reused and isinstance(exc, (BrokenPipeError, ConnectionResetError,
                                                       http.client.RemoteDisconnected)):
                            t0 = time.monotonic()
                            continue
                        with stats.lock:
                            stats.errors.append(f"{type(exc).__name__}: {exc}")
                        break
                t1 = time.monotonic()
                sent += 1
                record = Sent(t0, t1 - t0, status, n, sentinel if status == 200 else None, retry)
                with stats.lock:
                    stats.sends.append(record)
                if status == 200:
                    if poller:
                        poller.expect(sentinel, n, t1)
                    break
                if status in (429, 503) and retry:
                    time.sleep(min(float(retry), max(deadline - time.monotonic(), 0)))
                elif status == 0:
                    time.sleep(0.2)
                else:
                    break  # 4xx: an exporter drops the batch
    if conn is not None:
        conn.close()


# --- queryable ---------------------------------------------------------------------------------------


class Poller:
    """Watches tracing_step for one sentinel span per accepted batch."""

    def __init__(self, database_url: str, project_id: int, interval: float):
        import psycopg

        # Never server-side prepared (psycopg prepares a query run 5 times): prepared, the poll below still
        # averaged 239 ms in a run while tracing_step had no statistics; unprepared, ~5 ms (performance.md).
        self.conn = psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
        self.project_id, self.interval = project_id, interval
        self.pending: dict[tuple[str, str], tuple[float, int]] = {}
        self.visible: list[tuple[float, float, int]] = []  # (accepted at, visible at, spans)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, sentinel, spans, accepted_at):
        with self.lock:
            self.pending[sentinel] = (accepted_at, spans)

    def _check(self):
        with self.lock:
            keys = list(self.pending)
        if not keys:
            return
        rows = self.conn.execute(
            # One index probe per sentinel, whatever the planner thinks: as a join, ~200 pending keys
            # (a backlog) turned it into a hash join over the whole of tracing_step, 130 ms a poll.
            "SELECT u.t, u.p FROM unnest(%s::varchar[], %s::varchar[]) AS u(t, p) CROSS JOIN LATERAL"
            " (SELECT 1 FROM tracing_step s WHERE s.project_id = %s AND s.trace_id = u.t AND s.span_id = u.p"
            " LIMIT 1) found",
            [[k[0] for k in keys], [k[1] for k in keys], self.project_id],
        ).fetchall()
        now = time.monotonic()
        with self.lock:
            for key in rows:
                entry = self.pending.pop(tuple(key), None)
                if entry is not None:  # (the final check may race the poller thread)
                    self.visible.append((entry[0], now, entry[1]))

    def _run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            self._check()
            self.stop.wait(max(self.interval - (time.monotonic() - t0), 0))

    def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return True
            time.sleep(self.interval)
        with self.lock:
            return not self.pending

    def stored_spans(self) -> int:
        return self.conn.execute("SELECT count(*) FROM tracing_step WHERE project_id = %s",
                                 [self.project_id]).fetchone()[0]

    def batch_states(self) -> dict:
        return dict(self.conn.execute("SELECT status, count(*) FROM ingest_ingestbatch WHERE project_id = %s"
                                      " GROUP BY status", [self.project_id]).fetchall())


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def run(args) -> dict:
    t_build = time.monotonic()
    cycles = [build_cycle(args.seed + i, args.cycle_batches, args.batch, args.encoding, growing=args.growing)
              for i in range(args.senders)]
    body_kb = statistics.mean(len(t.body) for c in cycles for t in c.templates) / 1024
    build_s = time.monotonic() - t_build
    log(f"built {args.senders} cycles of {len(cycles[0].templates)} requests in {build_s:.1f}s; "
        f"mean body {body_kb:.0f} KiB ({args.encoding}{', gzip' if args.gzip else ''})")
    poller = Poller(args.database_url, args.project_id, args.poll_interval) if args.database_url else None
    if poller:
        poller.thread.start()
    warm = Stats()
    if args.warmup_requests:
        # Untimed: the first request of each web process pays its lazy imports (~0.3 s); steady
        # state is what an exporter sees. Their spans still count in the final stored total.
        t_warm = time.monotonic()
        threads = [threading.Thread(target=sender, args=(i, args, cycles[i], warm, poller, t_warm, t_warm + 60,
                                                         args.warmup_requests)) for i in range(args.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        if poller:
            poller.drain(60)
            with poller.lock:
                poller.visible.clear()
        log(f"warm-up: {len(warm.sends)} requests, slowest {max((x.latency for x in warm.sends), default=0) * 1000:.0f} ms")
    warm_accepted = sum(x.spans for x in warm.sends if x.status == 200)
    stats = Stats()
    t_start = time.monotonic()
    deadline = t_start + args.duration
    threads = [threading.Thread(target=sender, args=(i, args, cycles[i], stats, poller, t_start, deadline))
               for i in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.duration + args.timeout + 30)
    t_sent = time.monotonic()
    accepted = sum(s.spans for s in stats.sends if s.status == 200)
    result: dict = {
        "config": {k: v for k, v in vars(args).items() if k not in ("key",)},
        "body_kib": round(body_kb, 1),
        "send_seconds": round(t_sent - t_start, 2),
        "requests": len(stats.sends),
        "status_counts": _counts(s.status for s in stats.sends),
        "accepted_spans": accepted,
        "accepted_spans_per_s": round(accepted / (t_sent - t_start), 1),
        "latency_ms_all": _lat([s.latency for s in stats.sends]),
        "latency_ms_2xx": _lat([s.latency for s in stats.sends if s.status == 200]),
        "latency_ms_shed": _lat([s.latency for s in stats.sends if s.status in (429, 503)]),
        "retry_after_present_on_shed": all(s.retry_after for s in stats.sends if s.status in (429, 503)),
        "warmup": {"requests": len(warm.sends), "accepted_spans": warm_accepted,
                   "latency_ms": _lat([x.latency for x in warm.sends])},
        "client_errors": stats.errors[:5],
        "slowest_requests": [{"at_s": round(x.started - t_start, 2), "ms": round(x.latency * 1000, 1), "status": x.status}
                             for x in sorted(stats.sends, key=lambda x: -x.latency)[:5]],
        "per_10s_accepted_spans_per_s": _windows([(s.started + s.latency, s.spans) for s in stats.sends
                                                  if s.status == 200], t_start, 10),
    }
    if poller:
        drained = poller.drain(args.drain_timeout)
        t_done = time.monotonic()
        poller.stop.set()
        poller.thread.join(60)
        poller._check()
        lat = [v - a for a, v, _ in poller.visible]
        last_visible = max((v for _, v, _ in poller.visible), default=t_sent)
        stored = poller.stored_spans()
        batches = poller.batch_states()
        result.update({
            "all_queryable": drained,
            "drain_seconds_after_send": round(max(last_visible - t_sent, 0), 2),
            "e2e_seconds": round(last_visible - t_start, 2),
            "e2e_spans_per_s": round(accepted / (last_visible - t_start), 1) if accepted else 0,
            "accept_to_queryable_s": {k: (round(v, 3) if v is not None else None) for k, v in (
                ("p50", pct(lat, 50)), ("p95", pct(lat, 95)), ("p99", pct(lat, 99)), ("max", max(lat, default=None)))},
            "per_10s_queryable_spans_per_s": _windows([(v, n) for _, v, n in poller.visible], t_start, 10),
            "stored_spans": stored,
            # Accepted but not queryable when the wait ended: still in the backlog if batches are
            # pending/processing (see "batches"), lost only if none is.
            "not_yet_queryable_spans": accepted + warm_accepted - stored,
            "batches": batches,
            "lost_spans": accepted + warm_accepted - stored if not (batches.get("pending") or batches.get("processing")) else None,
            "waited_s": round(t_done - t_sent, 1),
        })
    return result


def _counts(statuses):
    out: dict[str, int] = {}
    for s in statuses:
        out[str(s)] = out.get(str(s), 0) + 1
    return out


def _lat(values):
    if not values:
        return {}
    return {f"p{p}": round(pct(values, p) * 1000, 1) for p in (50, 95, 99)} | {"max": round(max(values) * 1000, 1)}


def _windows(events, t0, width):
    buckets: dict[int, int] = {}
    for t, n in events:
        buckets[int((t - t0) // width)] = buckets.get(int((t - t0) // width), 0) + n
    return [round(buckets.get(i, 0) / width) for i in range(max(buckets, default=-1) + 1)]


def log(msg):
    print(f"[loadgen] {msg}", file=sys.stderr, flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000/v1/traces")
    p.add_argument("--key", required=True, help="an ingest API key")
    p.add_argument("--senders", type=int, default=4, help="concurrent exporters")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    p.add_argument("--rate", type=float, default=0.0, help="total spans/s to offer (0: each sender as fast as it can)")
    p.add_argument("--batch", type=int, default=512, help="spans per request")
    p.add_argument("--cycle-batches", type=int, default=8, help="requests per generated cycle of traces")
    p.add_argument("--encoding", choices=("protobuf", "json"), default="protobuf")
    p.add_argument("--growing", action="store_true",
                   help="LLM calls re-send the whole conversation so far (inputs grow to ~40 KB by step 12)")
    p.add_argument("--gzip", action="store_true", help="Content-Encoding: gzip (compressed per send, level 1)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    p.add_argument("--max-requests", type=int, default=0, help="per sender, 0 = until --duration")
    p.add_argument("--warmup-requests", type=int, default=1, help="per sender, untimed, before the timed phase")
    p.add_argument("--database-url", default="", help="poll tracing_step here for queryability")
    p.add_argument("--project-id", type=int, default=0)
    p.add_argument("--poll-interval", type=float, default=0.05)
    p.add_argument("--drain-timeout", type=float, default=300.0, help="max seconds to wait for indexing after send")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="", help="write the JSON result here")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.database_url and not args.project_id:
        sys.exit("--project-id is needed with --database-url")
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
