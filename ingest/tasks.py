"""Celery tasks: thin callers of ingest.indexing."""
from celery import shared_task

from ingest import indexing


@shared_task(name="ingest.tasks.index_batch", acks_late=True, reject_on_worker_lost=True)
def index_batch(batch_id: int) -> str:
    return indexing.index_batch(batch_id)


@shared_task(name="ingest.tasks.sweep")
def sweep() -> dict:
    return indexing.sweep()
