"""Hand a stored batch to the indexer: Celery when a broker is configured, in-process otherwise."""
import json
import logging

from django.conf import settings

log = logging.getLogger(__name__)


def enqueue_index(batch_id: int) -> None:
    """Called on commit. Never raises: a batch that could not be queued stays pending and the sweep re-drives it."""
    from ingest import tasks

    args = json.loads(json.dumps([batch_id]))  # the same round trip a broker would do
    if settings.CELERY_BROKER_URL:
        try:
            tasks.index_batch.apply_async(args=args, retry=False)
        except Exception:  # broker unreachable: the batch is durable, the sweep will re-drive it
            log.warning("could not queue batch %s; it stays pending for the sweep", batch_id, exc_info=True)
        return
    try:
        tasks.index_batch(*args)
    except Exception:
        log.exception("in-process indexing of batch %s failed; it stays pending for the sweep", batch_id)
