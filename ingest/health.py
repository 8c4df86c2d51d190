"""What the Ingest health page shows: counts by status and the batches that need attention."""
from django.db.models import Count, Max, Sum

from ingest.models import IngestBatch


def summary(project) -> dict:
    batches = IngestBatch.objects.filter(project=project)
    by_status = {row["status"]: row for row in batches.values("status").annotate(
        n=Count("id"), spans=Sum("span_count"), rejected=Sum("rejected_spans"), last=Max("received_at"))}
    problems = (
        batches.exclude(status=IngestBatch.INDEXED)
        .order_by("-received_at")
        .only("id", "received_at", "status", "attempts", "error", "span_count", "source", "claimed_at")[:50]
    )
    return {
        "by_status": [(s, by_status.get(s, {"n": 0, "spans": 0, "rejected": 0, "last": None}))
                      for s in (IngestBatch.PENDING, IngestBatch.PROCESSING, IngestBatch.INDEXED, IngestBatch.FAILED)],
        "problems": problems,
        "rejected_spans": sum((row["rejected"] or 0) for row in by_status.values()),
    }
