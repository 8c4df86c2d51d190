import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tracing.imports import import_file
from tracing.models import Project


class Command(BaseCommand):
    help = ("Import exported runs into a project: one run's OTLP/JSON file or a bulk-export zip. "
            "Goes through the normal ingest path; importing the same file again changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True, help="slug of the project to import into")
        parser.add_argument("--wait", type=float, default=300,
                            help="seconds to wait out a full indexing backlog before giving up (default 300)")

    def handle(self, file, project, wait, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project with slug {project!r}")
        with path.open("rb") as f:
            result = import_file(target, f, name=path.name, actor=f"command line ({_login()})", patience=wait)
        if not result.ok:
            raise CommandError(result.summary())
        self.stdout.write(result.summary())


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown user"
