from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tracing.indexer import lock_traces
from tracing.models import Project, Run
from tracing.spend import recompute_buckets, resum_hours

CHUNK = 500


class Command(BaseCommand):
    help = ("Rebuild the spend page's pre-aggregated buckets from the stored Steps (after upgrading "
            "to a version that adds them; indexing keeps them current from then on).")

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug (default: all)")

    def handle(self, project, **options):
        projects = Project.objects.order_by("id")
        if project:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f"no project with slug {project!r}")
        total = 0
        for p in projects:
            trace_ids = list(Run.objects.filter(project=p).order_by("id").values_list("trace_id", flat=True))
            for i in range(0, len(trace_ids), CHUNK):
                chunk = sorted(trace_ids[i:i + CHUNK])
                with transaction.atomic():  # as the indexer does: under its trace locks, so the two never race
                    lock_traces(p.id, chunk)
                    recompute_buckets(p.id, chunk)
            resum_hours(p.id)  # SpendHour again from the rebuilt buckets, even where it had drifted
            total += len(trace_ids)
        self.stdout.write(f"Rebuilt spend buckets of {total} run(s).")
