import urllib.error
import urllib.request
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "POST saved OTLP request bodies (.pb / .json, optionally .gz) to a Sagatrace endpoint."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument("--url", default="http://127.0.0.1:8000/v1/traces")
        parser.add_argument("--key", required=True, help="project API key with the ingest scope")

    def handle(self, files, url, key, **options):
        failures = 0
        for name in files:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{name}: no such file")
            body = path.read_bytes()
            suffixes = path.suffixes
            headers = {"Authorization": f"Bearer {key}",
                       "Content-Type": "application/json" if ".json" in suffixes else "application/x-protobuf"}
            if ".gz" in suffixes or body[:2] == b"\x1f\x8b":
                headers["Content-Encoding"] = "gzip"
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    self.stdout.write(f"{name}: {response.status}")
            except urllib.error.HTTPError as exc:
                failures += 1
                self.stderr.write(f"{name}: {exc.code} {exc.read()[:300]!r}")
        if failures:
            raise CommandError(f"{failures} file(s) rejected")
