"""Shared fixtures: personas, factories and the real services (PostgreSQL, Redis, a Celery worker).

Services are used when the suite runs on PostgreSQL (DATABASE_URL) — as .ci/run does. On the
embedded default (SQLite) the same tests run with in-process tasks. With CI=true, a service
that should be there and is not is a failure, never a skip.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("SAGATRACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = "/usr/bin/chromium"


def missing_service(message):
    """Fail in CI, skip on a developer machine that lacks the service."""
    if IN_CI:
        pytest.fail(f"required service missing in CI: {message}")
    pytest.skip(message)


def on_postgres():
    return connection.vendor == "postgresql"


# --- personas and factories ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_ingest_rate_limit(settings):
    """Tests post far faster than any agent; the rate-limit test turns the limit back on."""
    settings.SAGATRACE_INGEST_RATE_PER_KEY = 0


@pytest.fixture
def project(db):
    from tracing.models import Project

    return Project.objects.create(name="Acme agents", slug="acme")


@pytest.fixture
def api_key(project):
    from tracing.models import ApiKey

    _, raw = ApiKey.issue(project, name="test")
    return raw


@pytest.fixture
def alice(db, project):
    """alice is an admin of the acme project."""
    from django.contrib.auth import get_user_model

    from tracing.models import Membership

    user = get_user_model().objects.create_user("alice", password="alice-password")
    Membership.objects.create(user=user, project=project, role=Membership.ADMIN)
    return user


# --- real services --------------------------------------------------------------------------


def _redis_ok(url):
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return False


class Worker:
    """A real `celery worker` subprocess on Redis, indexing into the test database."""

    def __init__(self, db_url, broker_url, tmp):
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "CELERY_BROKER_URL": broker_url,
            "SAGATRACE_DATA_DIR": str(tmp),
            "SAGATRACE_CLAIM_LEASE_SECONDS": os.environ.get("SAGATRACE_CLAIM_LEASE_SECONDS", "300"),
        }
        self.log = tmp / "worker.log"
        self.proc = None

    def start(self):
        cmd = [sys.executable, "-m", "celery", "-A", "tracing.celery", "worker", "--pool=solo",
               "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "test@%h"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if b"ready." in self.log.read_bytes():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("celery worker exited:\n" + self.log.read_text()[-3000:])
            time.sleep(0.2)
        raise RuntimeError("celery worker did not become ready:\n" + self.log.read_text()[-3000:])

    def kill(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)


@pytest.fixture
def pipeline(transactional_db, tmp_path, settings):
    """The indexing path users run: a real worker on Redis over PostgreSQL, or in-process on SQLite.

    Yields the mode name ("worker" or "inprocess") and a `worker` attribute when there is one.
    """
    if not on_postgres():
        settings.CELERY_BROKER_URL = ""
        yield Pipeline("inprocess", None)
        return
    if not _redis_ok(REDIS_URL):
        missing_service(f"Redis at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    from tracing.celery import app

    settings.CELERY_BROKER_URL = REDIS_URL
    app.conf.broker_url = REDIS_URL
    _reset_celery_pools(app)
    db = connection.settings_dict
    db_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    worker = Worker(db_url, REDIS_URL, tmp_path).start()
    try:
        yield Pipeline("worker", worker)
    finally:
        worker.kill()
        _reset_celery_pools(app)


def _reset_celery_pools(app):
    """Forget broker connections so the next publish uses the current broker_url."""
    from kombu import pools

    pools.reset()  # kombu keeps pools in a global registry keyed by connection
    app._pool = None
    app.amqp._producer_pool = None


class Pipeline:
    def __init__(self, mode, worker):
        self.mode, self.worker = mode, worker

    def wait_indexed(self, timeout=30):
        """Until no batch is pending or processing."""
        from ingest.models import IngestBatch

        deadline = time.time() + timeout
        while time.time() < deadline:
            if not IngestBatch.objects.exclude(status__in=[IngestBatch.INDEXED, IngestBatch.FAILED]).exists():
                return
            time.sleep(0.1)
        log = self.worker.log.read_text()[-3000:] if self.worker else ""
        raise AssertionError(f"batches still not indexed after {timeout}s\n{log}")


# --- browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        missing_service("Debian chromium at /usr/bin/chromium")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.script_errors = []
    pg.on("pageerror", lambda exc: pg.script_errors.append(str(exc)))
    pg.on("dialog", lambda d: (pg.script_errors.append(f"dialog: {d.message}"), d.dismiss()))
    yield pg
    context.close()


def login(page, live_server, username, password):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
