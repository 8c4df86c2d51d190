"""The embedded default's stand-in for celery beat: a daemon thread running the sweep.

Enabled only when there is no broker and SAGATRACE_INPROCESS_SCHEDULER=1 (set by
the serve script), so tests and management commands never start threads.
"""
import logging
import os
import threading

log = logging.getLogger(__name__)
_started = False


def start_if_enabled(interval: float = 60.0) -> None:
    global _started
    from django.conf import settings

    if _started or settings.CELERY_BROKER_URL or os.environ.get("SAGATRACE_INPROCESS_SCHEDULER") != "1":
        return
    _started = True
    stop = threading.Event()

    def loop():
        from django.db import close_old_connections

        from django.utils import timezone

        from ingest.indexing import sweep
        from tracing.retention import purge_expired

        while not stop.wait(interval):
            try:
                sweep()
                purge_expired(timezone.now())
            except Exception:
                log.exception("in-process sweep failed")
            finally:
                close_old_connections()

    threading.Thread(target=loop, name="sagatrace-sweep", daemon=True).start()
