from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from tracing.models import ApiKey, Project


class Command(BaseCommand):
    help = "Create a project and print a new API key alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scope", action="append", choices=[ApiKey.INGEST, ApiKey.READ],
                            help="limit the key to one scope (repeatable); default: ingest and read")
        parser.add_argument("--key-name", default="default")

    def handle(self, name, scope, key_name, **options):
        slug = slugify(name)[:90] or "project"
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"a project with slug {slug!r} already exists")
        project = Project.objects.create(name=name, slug=slug)
        _, raw = ApiKey.issue(project, name=key_name, scopes=scope or [ApiKey.INGEST, ApiKey.READ])
        self.stdout.write(f"Created project {project.name!r} (slug {project.slug}).")
        self.stdout.write(raw)
