import logging
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init, worker_ready

from tracing import gc_tuning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracing.settings")

logger = logging.getLogger(__name__)
app = Celery("sagatrace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["ingest"])


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(task=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close the connections that are past
    DATABASES' CONN_MAX_AGE, left in a transaction or broken, keep the others. With
    CONN_HEALTH_CHECKS a kept one is checked before its next query, so a connection the server
    dropped between tasks is replaced. Celery's own fixup closes every connection before and after
    each task (CELERY_DB_REUSE_MAX in settings turns that off): a new PostgreSQL backend for every
    batch, whose start and catalog caches cost more than the batch's smaller queries."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # run inside the caller's request or transaction: its connections are not ours
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
@worker_process_init.connect
def _settle_garbage_collector(**kwargs) -> None:
    """Once the worker has loaded what it runs with (the process running tasks: the worker itself
    with the solo pool, each child with prefork): see tracing.gc_tuning."""
    from ingest import indexing  # noqa: F401  (the indexer and what it imports: loaded once, kept)
    from tracing import pricing

    pricing.price_version()  # loads genai-prices' data
    frozen = gc_tuning.settle()
    logger.info("garbage collector settled: %d objects loaded at start frozen, the young generation collected "
                "every %d allocations", frozen, gc_tuning.THRESHOLD)
