"""Celery tasks: thin callers of ingest.indexing.

Bound to our app explicitly (not @shared_task): the web process never imports tracing.celery
otherwise, and a shared task would then publish through Celery's default app, which ignores
our settings (publish timeouts, acks_late) and, without CELERY_BROKER_URL in the environment,
targets amqp://localhost.
"""
from ingest import indexing
from tracing.celery import app


@app.task(name="ingest.tasks.index_batch", acks_late=True, reject_on_worker_lost=True)
def index_batch(batch_id: int) -> str:
    return indexing.index_batch(batch_id)


@app.task(name="ingest.tasks.sweep")
def sweep() -> dict:
    return indexing.sweep()
