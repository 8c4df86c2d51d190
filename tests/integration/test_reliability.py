"""Nothing accepted is lost: worker crashes, a dead broker, an unreachable database.

Runs on PostgreSQL with real processes: a private redis-server this test can stop and start,
real `celery worker` subprocesses, and (for the database outage) a gunicorn web process whose
database connection goes through a TCP proxy the test cuts.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from ingest import indexing
from ingest.models import IngestBatch
from tests.conftest import ROOT, Worker, _reset_celery_pools, missing_service
from tests.otlp_builders import agent_trace, new_span_id, new_trace_id, request, span
from tracing.models import Run, Step

pytestmark = [pytest.mark.pg_only, pytest.mark.django_db(transaction=True)]
PB = "application/x-protobuf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class PrivateRedis:
    def __init__(self, tmp):
        self.port, self.tmp, self.proc = free_port(), tmp, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.tmp)], stdout=subprocess.DEVNULL)
        wait_until(lambda: _can_connect(self.port), 10, "redis-server")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def _can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def services(tmp_path, settings):
    if connection.vendor != "postgresql":
        missing_service("PostgreSQL (these tests run on the PostgreSQL pass)")
    try:
        redis = PrivateRedis(tmp_path)
        redis.start()
    except FileNotFoundError:
        missing_service("redis-server binary")
    from tracing.celery import app

    settings.CELERY_BROKER_URL = redis.url
    app.conf.broker_url = redis.url
    _reset_celery_pools(app)
    db = connection.settings_dict
    db_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    workers = []

    def worker(**env):
        w = Worker(db_url, redis.url, tmp_path)
        w.env.update(env)
        workers.append(w)
        return w.start()

    yield redis, worker
    for w in workers:
        w.kill(signal.SIGKILL)
    if redis.proc.poll() is None:
        redis.stop()
    _reset_celery_pools(app)


def post(client, body, key):
    return client.post("/v1/traces", data=body, content_type=PB, HTTP_AUTHORIZATION=f"Bearer {key}")


def big_batch(n_spans):
    trace_id, root = new_trace_id(), new_span_id()
    spans = [span(trace_id, root, "invoke_agent big", dur_ms=n_spans + 10,
                  attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "big"})]
    for i in range(n_spans - 1):
        spans.append(span(trace_id, new_span_id(), "chat gpt-4o", parent=root, start_ms=i + 1, dur_ms=1, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10,
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "' + "x" * 500 + '"}]}]'}))
    return trace_id, request(spans)


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(client, api_key, services, settings):
    redis, worker = services
    first = worker(SAGATRACE_CLAIM_LEASE_SECONDS="1")
    trace_id, body = big_batch(4000)
    assert post(client, body, api_key).status_code == 200
    batch = IngestBatch.objects.get()
    wait_until(lambda: IngestBatch.objects.filter(id=batch.id, status=IngestBatch.PROCESSING).exists(), 30, "claim")
    first.kill(signal.SIGKILL)  # mid-batch: claimed, transaction not committed
    assert IngestBatch.objects.get(id=batch.id).status == IngestBatch.PROCESSING
    assert Step.objects.filter(trace_id=trace_id).count() == 0  # the half-done transaction rolled back

    worker(SAGATRACE_CLAIM_LEASE_SECONDS="1")
    time.sleep(1.2)  # the dead worker's claim lease expires
    settings.SAGATRACE_CLAIM_LEASE_SECONDS = 1
    assert indexing.sweep()["redriven"] == 1
    wait_until(lambda: IngestBatch.objects.get(id=batch.id).status == IngestBatch.INDEXED, 60, "re-index")
    assert Step.objects.filter(trace_id=trace_id).count() == 4000
    run = Run.objects.get(trace_id=trace_id)
    assert (run.steps, run.llm_calls, run.input_tokens) == (4000, 3999, 399_900)


def test_intake_answers_while_redis_is_down_and_indexes_once_it_is_back(client, api_key, services, settings):
    redis, worker = services
    worker()
    redis.stop()
    traces = []
    for _ in range(3):
        trace_id, spans = agent_trace()
        traces.append(trace_id)
        started = time.time()
        assert post(client, request(spans), api_key).status_code == 200
        assert time.time() - started < 10  # a dead broker must not hang the exporter
    assert IngestBatch.objects.filter(status=IngestBatch.PENDING).count() == 3
    assert Run.objects.count() == 0

    redis.start()
    settings.SAGATRACE_SWEEP_GRACE_SECONDS = 0
    # No pool reset here: the web process must recover from a broker restart on its own.
    assert indexing.sweep()["redriven"] == 3
    wait_until(lambda: Run.objects.count() == 3, 60, "indexing after redis came back")
    assert sorted(Run.objects.values_list("trace_id", flat=True)) == sorted(traces)
    assert IngestBatch.objects.filter(status=IngestBatch.INDEXED).count() == 3


class TcpProxy:
    """Forwards 127.0.0.1:port → PostgreSQL; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.open = False
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self):
        self.open = True


def test_database_unreachable_gives_503_with_retry_after(api_key, tmp_path):
    db = connection.settings_dict
    proxy = TcpProxy(int(db["PORT"] or 5432))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
           "SAGATRACE_DATA_DIR": str(tmp_path), "DATABASE_CONN_MAX_AGE": "0"}
    env.pop("CELERY_BROKER_URL", None)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "tracing.wsgi", "--bind", f"127.0.0.1:{port}",
                            "--workers", "1", "--timeout", "60"], cwd=ROOT, env=env,
                           stdout=open(tmp_path / "web.log", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _can_connect(port), 30, "gunicorn")
        _, spans = agent_trace()

        def send():
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=request(spans), method="POST",
                                         headers={"Content-Type": PB, "Authorization": f"Bearer {api_key}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, r.headers
            except urllib.error.HTTPError as e:
                return e.code, e.headers

        assert send()[0] == 200
        proxy.cut()
        status, headers = send()
        assert status == 503
        assert int(headers["Retry-After"]) > 0
        proxy.restore()
        assert send()[0] == 200
    finally:
        web.terminate()
        web.wait(10)
        proxy.cut()
        proxy.listener.close()


def test_gunicorn_web_process_queues_to_the_configured_broker(api_key, services, tmp_path):
    """Production shape: gunicorn (which never imports the Celery app module itself) + a worker."""
    redis, worker = services
    worker()
    db = connection.settings_dict
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{db['PORT'] or 5432}/{db['NAME']}",
           "CELERY_BROKER_URL": redis.url, "SAGATRACE_DATA_DIR": str(tmp_path)}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "tracing.wsgi", "--bind", f"127.0.0.1:{port}",
                            "--workers", "1"], cwd=ROOT, env=env,
                           stdout=open(tmp_path / "web2.log", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _can_connect(port), 30, "gunicorn")
        trace_id, spans = agent_trace()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=request(spans), method="POST",
                                     headers={"Content-Type": PB, "Authorization": f"Bearer {api_key}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        wait_until(lambda: Run.objects.filter(trace_id=trace_id, steps=3).exists(), 30, "the worker to index")
    finally:
        web.terminate()
        web.wait(10)


def _worker_backends():
    """(pid, start) of the client connections to the test database other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE datname = current_database()"
                       " AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
        return set(cursor.fetchall())


def test_the_worker_keeps_its_database_connection_and_replaces_one_the_server_dropped(client, api_key, services):
    """A batch is not worth a new PostgreSQL backend (Celery's default closes the connection around
    every task), but a connection that died between tasks must not fail the next batch."""
    redis, worker = services
    w = worker()
    assert b"garbage collector settled" in w.log.read_bytes()  # the real worker sends worker_ready: gc_tuning

    def index_one():
        trace_id, spans = agent_trace()
        assert post(client, request(spans), api_key).status_code == 200
        wait_until(lambda: Run.objects.filter(trace_id=trace_id).exists(), 30, "the run indexed")

    index_one()
    kept = _worker_backends()
    assert len(kept) == 1
    index_one()
    assert _worker_backends() == kept  # the same backend, not a new one per task

    (pid, _), = kept
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_until(lambda: not _worker_backends(), 10, "the backend to end")
    index_one()  # the health check before the task's first query replaces the dead connection
    assert len(_worker_backends()) == 1 and _worker_backends() != kept
    assert not IngestBatch.objects.exclude(status=IngestBatch.INDEXED).exists()
