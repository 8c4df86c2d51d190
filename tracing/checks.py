"""System checks: misconfiguration is reported by `manage.py check`, not by asserts."""
import os

from django.conf import settings
from django.core.checks import Error, Warning, register

from tracing import native


@register()
def configuration(app_configs, **kwargs):
    problems = []
    engine = settings.DATABASES["default"].get("ENGINE", "")
    if not engine:
        problems.append(
            Error(
                "DATABASE_URL has an unsupported scheme.",
                hint="Use postgres://user:pass@host:5432/db or sqlite:///absolute/path.sqlite3.",
                id="sagatrace.E001",
            )
        )
    broker = settings.CELERY_BROKER_URL
    if broker and not broker.split("://", 1)[0] in ("redis", "rediss", "amqp", "amqps", "pyamqp"):
        problems.append(
            Error("CELERY_BROKER_URL must be a redis:// or amqp:// URL.", id="sagatrace.E002")
        )
    if broker and "sqlite" in engine:
        problems.append(
            Warning(
                "A separate Celery worker with SQLite: workers and web must share the same database file.",
                hint="Use PostgreSQL (DATABASE_URL) when running separate workers.",
                id="sagatrace.W001",
            )
        )
    for name in ("SAGATRACE_MAX_BODY_BYTES", "SAGATRACE_MAX_DECOMPRESSED_BYTES", "SAGATRACE_MAX_SPANS_PER_REQUEST",
                 "SAGATRACE_MAX_ATTRIBUTE_BYTES"):
        if getattr(settings, name) <= 0:
            problems.append(Error(f"{name} must be a positive integer.", id="sagatrace.E003"))
    if not settings.DEBUG and settings.SECRET_KEY.startswith("django-insecure"):
        problems.append(Warning("SECRET_KEY looks like a development key.", id="sagatrace.W002"))
    if not native.ACTIVE and os.environ.get("SAGATRACE_NATIVE") != "0":  # turned off on purpose: nothing to say
        problems.append(Warning(
            f"The compiled ingest modules are not in use: {native.why_not()}.",
            hint="Run scripts/build_native (gcc and the 'native' extra); the Python source works, with ~16% "
                 "more worker CPU a span.", id="sagatrace.W003"))
    return problems
