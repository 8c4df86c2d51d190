from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ingest import otlp
from ingest.models import IngestBatch
from tracing import indexer
from tracing.models import Project


class Command(BaseCommand):
    help = "Rebuild Steps and Runs from the stored raw batches (after a pricing or normalizer change)."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug (default: all)")
        parser.add_argument("--since", help="only batches received at or after this ISO time")

    def handle(self, project, since, **options):
        batches = IngestBatch.objects.order_by("id")
        if project:
            target = Project.objects.filter(slug=project).first()
            if target is None:
                raise CommandError(f"no project with slug {project!r}")
            batches = batches.filter(project=target)
        if since:
            when = parse_datetime(since) or (datetime.fromisoformat(since) if since else None)
            if when is None:
                raise CommandError("--since must be an ISO date or datetime")
            batches = batches.filter(received_at__gte=timezone.make_aware(when) if timezone.is_naive(when) else when)
        done = failed = 0
        for batch_id in batches.values_list("id", flat=True).iterator():
            batch = IngestBatch.objects.get(id=batch_id)
            try:
                decoded = otlp.decode(batch.payload(), batch.encoding)
                with transaction.atomic():
                    # Same version as stored → the upsert rewrites the step with today's normalizer and prices.
                    indexer.index_spans(batch.project_id, decoded.spans)
                    IngestBatch.objects.filter(id=batch_id).update(
                        status=IngestBatch.INDEXED, indexed_at=timezone.now(), error=""
                    )
                done += 1
            except Exception as exc:
                failed += 1
                self.stderr.write(f"batch {batch_id}: {type(exc).__name__}: {exc}")
        self.stdout.write(f"Reindexed {done} batch(es); {failed} failed.")
