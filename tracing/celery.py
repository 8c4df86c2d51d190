import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracing.settings")

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
