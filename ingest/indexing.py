"""Claim a stored batch, index its spans, mark it done; and the sweep that re-drives stuck batches."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
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
    """1. claim with a conditional UPDATE (another worker or a finished run means: nothing to do),
    and on PostgreSQL the next batches of the same project waiting behind it, up to
    SAGATRACE_INDEX_GROUP_SPANS spans and SAGATRACE_INDEX_GROUP_BYTES (SKIP LOCKED: concurrent workers take different ones; their
    own tasks will find them claimed and skip);
    2. decode the stored bodies; 3. index their spans and mark them indexed in one transaction,
    so a run whose spans arrived in several batches is recomputed once;
    4. if that fails, index the batches one by one; a batch that fails alone records its error
    and goes back to pending for the sweep, or to failed after too many tries."""
    now = timezone.now()
    claimed = (
        IngestBatch.objects.filter(_claimable(now), id=batch_id)
        .update(status=IngestBatch.PROCESSING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return "skipped"
    batches = _load([batch_id, *_claim_followers(batch_id, now)])
    if len(batches) > 1:
        try:
            _index(batches)
            return "indexed"
        except Exception:
            log.warning("indexing batches %s together failed; indexing them one by one",
                        [b.id for b in batches], exc_info=True)
    own_error = None
    for batch in batches:
        try:
            _index([batch])
        except Exception as exc:
            failed = batch.attempts >= settings.SAGATRACE_MAX_INDEX_ATTEMPTS
            IngestBatch.objects.filter(id=batch.id).update(
                status=IngestBatch.FAILED if failed else IngestBatch.PENDING,
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )
            log.exception("indexing batch %s failed (attempt %s)", batch.id, batch.attempts)
            if batch.id == batch_id:
                own_error = exc
    if own_error is not None:
        raise own_error
    return "indexed"


def _load(ids: list[int]) -> list[IngestBatch]:
    """The claimed batches, by id. On PostgreSQL the bodies come in binary: as text, the server
    hex-encoded each 1.5 MB body and the worker decoded it (~40 ms a four-batch group)."""
    fields = [f.attname for f in IngestBatch._meta.concrete_fields  # in model order, as from_db takes them
              if f.attname in ("id", "project_id", "encoding", "body", "compression", "body_bytes", "attempts",
                              "span_count")]
    if connection.vendor != "postgresql":
        return list(IngestBatch.objects.only(*fields).filter(id__in=ids).order_by("id"))
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"SELECT {', '.join(IngestBatch._meta.get_field(f).column for f in fields)} "
                       f"FROM {IngestBatch._meta.db_table} WHERE id = ANY(%s) ORDER BY id", [ids], binary=True)
        return [IngestBatch.from_db(connection.alias, fields, row) for row in cursor.fetchall()]  # the rest deferred


def _index(batches: list[IngestBatch]) -> None:
    spans = []
    for batch in batches:
        spans += otlp.decode(batch.payload(), batch.encoding,
                             max_attribute_bytes=settings.SAGATRACE_MAX_ATTRIBUTE_BYTES).spans
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        indexer.index_spans(batches[0].project_id, spans)
        IngestBatch.objects.filter(id__in=[b.id for b in batches]).update(
            status=IngestBatch.INDEXED, indexed_at=timezone.now(), error=""
        )


def _commit_without_waiting_for_disk() -> None:
    """PostgreSQL: this transaction's commit returns before its WAL is flushed (the WAL writer
    flushes within 200 ms). Safe here and nowhere else: everything it writes is derived from the
    stored batches, which were committed durably by intake, and the batches' "indexed" mark is in
    the same transaction; a crash that loses it leaves them pending and the sweep indexes them
    again. Saves a disk flush per transaction on the worker's critical path."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _claim_followers(batch_id: int, now) -> list[int]:
    """Claim the oldest pending batches of the claimed batch's project (after it), as long as
    the group stays within SAGATRACE_INDEX_GROUP_SPANS spans and SAGATRACE_INDEX_GROUP_BYTES of
    bodies as received (a worker holds a group's spans several times over: agents re-sending long
    conversations send ~12 KB a span, and 2,048 of them took a worker past 600 MB). PostgreSQL
    only; for a body stored before sizes were recorded, octet_length reads its size from its
    TOAST header, without reading it."""
    limit, byte_limit = settings.SAGATRACE_INDEX_GROUP_SPANS, settings.SAGATRACE_INDEX_GROUP_BYTES
    if connection.vendor != "postgresql" or limit <= 0:
        return []
    table = IngestBatch._meta.db_table

    def size(alias):
        return f"COALESCE({alias}.body_bytes, octet_length({alias}.body))"

    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM (
                    SELECT id, sum(span_count) OVER (ORDER BY id) AS running,
                           sum(bytes) OVER (ORDER BY id) AS running_bytes FROM (
                        SELECT b.id, b.span_count, {size("b")} AS bytes FROM {table} b
                        WHERE b.project_id = (SELECT project_id FROM {table} WHERE id = %s)
                          AND b.status = %s AND b.id > %s
                        ORDER BY b.id LIMIT 64 FOR UPDATE SKIP LOCKED
                    ) candidates
                ) ranked
                WHERE running + (SELECT span_count FROM {table} WHERE id = %s) <= %s
                  AND running_bytes + (SELECT {size(table)} FROM {table} WHERE id = %s) <= %s
            )
            RETURNING id""",
            [IngestBatch.PROCESSING, now, batch_id, IngestBatch.PENDING, batch_id, batch_id, limit, batch_id,
             byte_limit],
        )
        return [row[0] for row in cursor.fetchall()]


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
