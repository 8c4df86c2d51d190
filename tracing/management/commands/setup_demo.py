"""First-run setup for the embedded default: a demo login, a demo project and its key, demo runs."""
import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from tracing.models import ApiKey, Membership, Project, Run


class Command(BaseCommand):
    help = "Create the demo user and project (once), load demo runs through ingest, print login and API key."

    def handle(self, **options):
        User = get_user_model()
        user = User.objects.filter(username="demo").first()
        if user is None:
            user = User.objects.create_user("demo", password="demo", is_superuser=False)
        project, _ = Project.objects.get_or_create(slug="demo", defaults={"name": "Demo"})
        Membership.objects.get_or_create(user=user, project=project, defaults={"role": Membership.ADMIN})

        # The raw key is stored only hashed; for the local demo we keep it in the data dir to show it again.
        key_file = Path(settings.DATA_DIR) / "demo_api_key"
        raw = key_file.read_text().strip() if key_file.exists() else ""
        if not raw or ApiKey.lookup(raw) is None:
            _, raw = ApiKey.issue(project, name="demo")
            key_file.write_text(raw)
            os.chmod(key_file, 0o600)
        if not Run.objects.filter(project=project).exists():
            call_command("seed_demo", "demo", stdout=self.stdout)

        base = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"  # scripts/serve binds this port
        self.stdout.write("")
        self.stdout.write("  Sagatrace is ready.")
        self.stdout.write(f"  Log in at {base}/ as  demo / demo")
        self.stdout.write(f"  Send spans to {base}/v1/traces with header  Authorization: Bearer <key>")
        self.stdout.write("  API key for the Demo project:")
        self.stdout.write(raw)
