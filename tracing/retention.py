"""Deleting what has outlived its retention, in bounded chunks so no statement holds long locks."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction

from tracing.indexer import lock_traces
from tracing.models import Project, Run
from tracing.spend import forget_runs


def _trace_keyed_models():
    """Every model keyed by (project, trace_id) besides Run: Steps and any per-run aggregate table."""
    return [m for m in apps.get_app_config("tracing").get_models()
            if m is not Run and {"project", "trace_id"} <= {f.name for f in m._meta.fields}]


def purge_project(project: Project, now: datetime, chunk: int = 500) -> int:
    """Delete runs started before the project's retention cutoff, with their steps. Returns runs deleted."""
    cutoff = now - timedelta(days=project.retention_days)
    deleted = 0
    while True:
        batch = list(Run.objects.filter(project=project, started_at__lt=cutoff).values_list("id", "trace_id")[:chunk])
        if not batch:
            _purge_hourly_rollups(project, cutoff)
            return deleted
        trace_ids = sorted(t for _, t in batch)
        with transaction.atomic():
            # Under the indexer's trace locks: the runs' spend leaves the SpendHour cells it was added to
            # (they are kept up to date by difference, tracing.spend), not while a late span re-indexes them.
            lock_traces(project.id, trace_ids)
            forget_runs(project.id, trace_ids, hours_from=cutoff)
            for model in _trace_keyed_models():
                model.objects.filter(project=project, trace_id__in=trace_ids).delete()
            Run.objects.filter(id__in=[i for i, _ in batch]).delete()
        deleted += len(batch)


def _purge_hourly_rollups(project, cutoff, hours_per_transaction: int = 24):
    """Project-wide hourly spend rollups are not keyed by run: drop the hours before the cutoff, then
    put back what the runs kept still hold there (a step whose clock ran behind its run's start).
    A day of hours per transaction, each with indexing held off SpendHour (as rebuild_spend re-sums
    cells); nothing is locked when no hour is that old, as on most of the purge's runs."""
    from tracing.spend import apply_to_hours, bucket_sums, hold_hours
    from tracing.spend_models import DIMENSIONS, TOTALS, SpendBucket, SpendHour

    hours = sorted(SpendHour.objects.filter(project=project, hour__lt=cutoff).values_list("hour", flat=True)
                   .distinct())
    for i in range(0, len(hours), hours_per_transaction):
        chunk = hours[i:i + hours_per_transaction]
        with transaction.atomic():
            hold_hours()
            SpendHour.objects.filter(project=project, hour__in=chunk).delete()
            # The purged runs' buckets are gone: what is left in these hours is the kept runs'. (Every
            # dimension named, so the (project, dimension, hour) index serves the query.)
            kept = SpendBucket.objects.filter(project=project, dimension__in=(TOTALS, *DIMENSIONS), hour__in=chunk)
            apply_to_hours(project.id, {}, bucket_sums(kept))


def purge_raw_batches(now: datetime, chunk: int = 500) -> int:
    """Raw bodies are evidence only until indexed: keep them a short while, then drop them.
    Pending and failed batches are never dropped here (they still hold unindexed data)."""
    from ingest.models import IngestBatch

    cutoff = now - timedelta(hours=settings.SAGATRACE_RAW_RETENTION_HOURS)
    deleted = 0
    while True:
        ids = list(IngestBatch.objects.filter(status=IngestBatch.INDEXED, received_at__lt=cutoff)
                   .values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted
        IngestBatch.objects.filter(id__in=ids).delete()
        deleted += len(ids)


def purge_expired(now: datetime) -> dict:
    runs = sum(purge_project(p, now) for p in Project.objects.all())
    return {"runs": runs, "raw_batches": purge_raw_batches(now)}



