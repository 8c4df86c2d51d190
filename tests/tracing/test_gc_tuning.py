"""The collector settings of the long-lived processes (tracing.gc_tuning). Each test runs in a
fresh interpreter: freezing is for the whole process, and this one is the test runner."""
import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def run(code: str, **env) -> str:
    import os

    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "SECRET_KEY": "test", **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_what_is_loaded_is_frozen_and_new_cycles_are_still_collected():
    out = run("""
        import gc, weakref
        from tracing import gc_tuning

        class Node:
            pass

        frozen = gc_tuning.settle()
        assert frozen > 1000 and frozen == gc.get_freeze_count(), frozen
        cycle = Node(); cycle.me = cycle  # garbage only a collection frees
        alive = weakref.ref(cycle)
        del cycle
        kept = [[] for _ in range(gc_tuning.THRESHOLD // 2)]
        assert alive() is not None  # fewer allocations than the threshold: no collection yet
        kept += [[] for _ in range(gc_tuning.THRESHOLD)]
        print("collected" if alive() is None else "leaked")
    """)
    assert out == "collected"


def test_web_workers_settle_once_the_application_is_loaded(tmp_path):
    out = run("""
        import gc
        import tracing.wsgi
        from tracing import gc_tuning
        print(gc.get_freeze_count() > 10_000, gc.get_threshold()[0] == gc_tuning.THRESHOLD)
    """, SAGATRACE_DATA_DIR=str(tmp_path))
    assert out == "True True"


def test_worker_processes_settle_when_ready(tmp_path):
    """Celery sends worker_ready in the process that runs the tasks with the solo pool, and
    worker_process_init in each child of a prefork pool."""
    out = run("""
        import gc
        from celery.signals import worker_process_init, worker_ready
        from tracing.celery import app
        import django; django.setup()
        from tracing import gc_tuning
        worker_ready.send(sender=None)
        print(gc.get_freeze_count() > 10_000, gc.get_threshold()[0] == gc_tuning.THRESHOLD,
              "ingest.indexing" in __import__("sys").modules)
    """, SAGATRACE_DATA_DIR=str(tmp_path))
    assert out == "True True True"
