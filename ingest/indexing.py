"""Claim a stored batch, index its spans, mark it done; and the sweep that re-drives stuck batches."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ingest import otlp
from ingest.models import IngestBatch
from tracing import indexer

log = logging.getLogger(__name__)


def _claimable(now):
    lease_expired = now - timedelta(seconds=settings.SAGATRACE_CLAIM_LEASE_SECONDS)
    return Q(status=IngestBatch.PENDING) | Q(status=IngestBatch.PROCESSING, claimed_at__lt=lease_expired)


def index_batch(batch_id: int) -> str:
    """1. claim with a conditional UPDATE (another worker or a finished run means: nothing to do);
    2. decode the stored body; 3. index its spans and mark the batch indexed in one transaction;
    4. on failure, record the error and leave it pending for the sweep, or failed after too many tries."""
    now = timezone.now()
    claimed = (
        IngestBatch.objects.filter(_claimable(now), id=batch_id)
        .update(status=IngestBatch.PROCESSING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return "skipped"
    batch = IngestBatch.objects.only("id", "project_id", "encoding", "body", "attempts").get(id=batch_id)
    try:
        decoded = otlp.decode(bytes(batch.body), batch.encoding, max_attribute_bytes=settings.SAGATRACE_MAX_ATTRIBUTE_BYTES)
        with transaction.atomic():
            indexer.index_spans(batch.project_id, decoded.spans)
            IngestBatch.objects.filter(id=batch_id).update(
                status=IngestBatch.INDEXED, indexed_at=timezone.now(), error=""
            )
    except Exception as exc:
        failed = batch.attempts >= settings.SAGATRACE_MAX_INDEX_ATTEMPTS
        IngestBatch.objects.filter(id=batch_id).update(
            status=IngestBatch.FAILED if failed else IngestBatch.PENDING,
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        log.exception("indexing batch %s failed (attempt %s)", batch_id, batch.attempts)
        raise
    return "indexed"


def sweep(limit: int = 500) -> dict:
    """Re-drive batches pending past the grace period or claimed by a worker that died; mark stale runs incomplete."""
    from ingest.queue import enqueue_index

    now = timezone.now()
    grace = now - timedelta(seconds=settings.SAGATRACE_SWEEP_GRACE_SECONDS)
    lease = now - timedelta(seconds=settings.SAGATRACE_CLAIM_LEASE_SECONDS)
    stuck = list(
        IngestBatch.objects.filter(
            Q(status=IngestBatch.PENDING, received_at__lt=grace)
            | Q(status=IngestBatch.PROCESSING, claimed_at__lt=lease)
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    for batch_id in stuck:
        enqueue_index(batch_id)
    incomplete = indexer.mark_incomplete_runs(now)
    return {"redriven": len(stuck), "incomplete": incomplete}


def redrive(batch_id: int) -> None:
    """Put a failed batch back in the queue (the Ingest health page's button)."""
    from ingest.queue import enqueue_index

    if IngestBatch.objects.filter(id=batch_id, status=IngestBatch.FAILED).update(
        status=IngestBatch.PENDING, attempts=0, error=""
    ):
        transaction.on_commit(lambda: enqueue_index(batch_id))
