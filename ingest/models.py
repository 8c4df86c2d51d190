from django.db import models
from django.utils import timezone

from ingest import bodies
from tracing.models import Project


class IngestBatch(models.Model):
    """One accepted OTLP request body, stored before the 2xx: the source of truth for indexing."""

    PENDING, PROCESSING, INDEXED, FAILED = "pending", "processing", "indexed", "failed"
    STATUSES = [(s, s) for s in (PENDING, PROCESSING, INDEXED, FAILED)]
    PROTOBUF, JSON = "protobuf", "json"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    received_at = models.DateTimeField(default=timezone.now)
    encoding = models.CharField(max_length=10)  # protobuf | json (of the body as received, after any gzip)
    body = models.BinaryField()  # compressed as `compression` says (ingest.bodies)
    # "" (as received) | zstd; the database default lets a web process of the previous release insert
    compression = models.CharField(max_length=10, blank=True, default="", db_default="")
    body_bytes = models.PositiveIntegerField(null=True)  # its size as received; null: the stored size
    span_count = models.PositiveIntegerField(default=0)
    rejected_spans = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    source = models.CharField(max_length=20, default="http")  # http | grpc | import | demo

    @classmethod
    def of(cls, body: bytes, **fields) -> "IngestBatch":
        """A batch (not saved) holding `body` as intake stores it: compressed."""
        stored, compression = bodies.pack(body)
        return cls(body=stored, compression=compression, body_bytes=len(body), **fields)

    def payload(self) -> bytes:
        """The body as received (decompressed)."""
        return bodies.unpack(self.body, self.compression, self.body_bytes)

    class Meta:
        indexes = [
            models.Index(fields=["status", "received_at"], name="batch_status"),
            models.Index(fields=["project", "received_at"], name="batch_project"),
        ]
