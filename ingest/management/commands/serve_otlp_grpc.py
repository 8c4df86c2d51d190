from django.core.management.base import BaseCommand

from ingest.grpc_server import build_server


class Command(BaseCommand):
    help = "Serve OTLP/gRPC (TraceService/Export) on the same intake path as POST /v1/traces."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:4317")
        parser.add_argument("--workers", type=int, default=8)

    def handle(self, bind, workers, **options):
        server = build_server(bind, workers)
        server.start()
        self.stdout.write(f"OTLP/gRPC listening on {bind.rsplit(':', 1)[0]}:{server.bound_port}")
        try:
            server.wait_for_termination()
        except KeyboardInterrupt:
            server.stop(grace=5)
