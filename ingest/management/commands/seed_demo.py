from django.core.management.base import BaseCommand, CommandError

from ingest import intake, otlp
from tracing.demo import demo_requests
from tracing.models import Project


class Command(BaseCommand):
    help = "Send realistic demo agent runs through the real ingest path."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project slug")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, project, seed, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project with slug {project!r}")
        spans = 0
        for body in demo_requests(seed):
            outcome = intake.accept(target, body, encoding=otlp.PROTOBUF, source="demo")
            if outcome.status != 200:
                raise CommandError(f"demo batch rejected: {outcome.status} {outcome.message}")
            spans += outcome.accepted
        self.stdout.write(f"Sent {spans} demo spans to {target.name!r}.")
