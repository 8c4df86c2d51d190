"""Projects, access, and the indexed form of agent runs: Run and Step."""
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from tracing import received
from tracing.json_columns import ContentJSONField

KIND_CHOICES = [(k, k) for k in ("agent", "llm", "tool", "retrieval", "embedding", "other")]


class Project(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    retention_days = models.PositiveIntegerField(default=30)
    # Built-in redaction rules switched off for this project (all are on by default).
    redaction_disabled = models.JSONField(default=list, blank=True)
    redaction_version = models.PositiveIntegerField(default=0)  # bumped on any rule change: caches reload

    def __str__(self):
        return self.name


class Membership(models.Model):
    VIEWER, MEMBER, ADMIN = "viewer", "member", "admin"
    ROLES = [(VIEWER, "viewer"), (MEMBER, "member"), (ADMIN, "admin")]
    RANK = {VIEWER: 0, MEMBER: 1, ADMIN: 2}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=ROLES, default=VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_unique")]

    def allows(self, role):
        return self.RANK[self.role] >= self.RANK[role]


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    INGEST, READ = "ingest", "read"
    PREFIX = "st_"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16)  # shown in the UI; the rest is never stored
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)  # ["ingest", "read"]
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def issue(cls, project, name="default", scopes=(INGEST, READ)):
        """Create a key; returns (ApiKey, raw_key). The raw key is shown once and never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            project=project, name=name, prefix=raw[:10], key_hash=hash_key(raw), scopes=list(scopes)
        )
        return key, raw

    @classmethod
    def lookup(cls, raw_key: str):
        if not raw_key:
            return None
        return (
            cls.objects.select_related("project")
            .filter(key_hash=hash_key(raw_key.strip()), revoked_at__isnull=True)
            .first()
        )

    def has_scope(self, scope):
        return scope in self.scopes

    def __str__(self):
        return f"{self.prefix}… ({self.name})"


class Run(models.Model):
    """One agent run = one trace. Its aggregates are recomputed from its Steps; a run that only
    gained steps has them added instead, to the same result (tracing.run_growth)."""

    OK, ERROR, IN_PROGRESS, INCOMPLETE = "ok", "error", "in_progress", "incomplete"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs", db_index=False)  # see Step
    trace_id = models.CharField(max_length=32)
    root_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=300, blank=True)
    agent = models.CharField(max_length=200, blank=True)
    service = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, default=IN_PROGRESS)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    # In nanoseconds, what started_at and ended_at are worked out from: the run's start (its root's,
    # else its earliest step's) and the latest end of its steps. NULL on rows from before they were kept.
    start_ns = models.BigIntegerField(null=True, blank=True)
    end_ns = models.BigIntegerField(null=True, blank=True)
    steps = models.PositiveIntegerField(default=0)
    llm_calls = models.PositiveIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    unpriced_calls = models.PositiveIntegerField(default=0)
    models_used = models.JSONField(default=list)
    session_id = models.CharField(max_length=200, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="run_unique_trace")]
        indexes = [
            models.Index(fields=["project", "-started_at", "-id"], name="run_recent"),
            models.Index(fields=["project", "agent", "-started_at"], name="run_agent"),
            models.Index(fields=["project", "session_id", "started_at"], name="run_session"),
            models.Index(fields=["project", "status", "-started_at"], name="run_status"),
        ]

    def __str__(self):
        return f"{self.name or self.trace_id}"


class Step(models.Model):
    """One span, normalized. Unique on (project, trace_id, span_id); written by bulk upsert."""

    # No index of its own: every index here leads with project. With one, a project newer than the
    # table's statistics had its run's steps read through it (all the project's steps, then filtered):
    # ~10 ms a lookup at 18,000 steps, on every batch (docs/performance.md).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default="other")
    operation = models.CharField(max_length=60, blank=True)
    convention = models.CharField(max_length=30, blank=True)
    is_error = models.BooleanField(default=False)
    start_ns = models.BigIntegerField()
    end_ns = models.BigIntegerField()
    # Which copy of a re-sent span wins: later end, then more attributes (order-independent).
    version = models.BigIntegerField(default=0)
    # span_id of the LLM step this one describes again (a provider SDK's own span beside or under the
    # instrumentation's): kept as a step, left out of run totals. Set by tracing.dedupe at index time.
    duplicate_of = models.CharField(max_length=16, blank=True, default="")

    model = models.CharField(max_length=200, blank=True)
    request_model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    input_tokens = models.BigIntegerField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    cache_read_tokens = models.BigIntegerField(null=True, blank=True)
    cache_write_tokens = models.BigIntegerField(null=True, blank=True)
    reasoning_tokens = models.BigIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    cost_source = models.CharField(max_length=10, blank=True)  # reported | computed | unpriced
    cost_breakdown = models.JSONField(default=dict, blank=True)
    cost_note = models.TextField(blank=True)
    price_version = models.CharField(max_length=40, blank=True)
    # What prompt caching saved on this call (tracing.pricing.cache_savings), priced at index time as
    # cost_usd is; the spend upkeep reads it on every recompute of the run. NULL: no cache tokens,
    # unpriced, or indexed before it was stored (tracing.spend then prices it).
    cache_savings_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)

    input = ContentJSONField(null=True, blank=True)
    output = ContentJSONField(null=True, blank=True)
    system_instructions = ContentJSONField(null=True, blank=True)
    tool_definitions = ContentJSONField(null=True, blank=True)
    reasoning = models.TextField(blank=True)
    tool_calls = ContentJSONField(default=list, blank=True)
    finish_reasons = models.JSONField(default=list, blank=True)
    tool_name = models.CharField(max_length=200, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True)
    tool_arguments = ContentJSONField(null=True, blank=True)
    tool_result = ContentJSONField(null=True, blank=True)

    session_id = models.CharField(max_length=200, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    agent_name = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = ContentJSONField(default=dict, blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=100, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)

    attributes = ContentJSONField(default=dict, blank=True)  # attributes no mapper consumed
    # the span as received (attributes, events, resource, scope), without the long strings the columns
    # above hold: read it with received()
    raw = ContentJSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_id", "span_id"], name="step_unique_span")
        ]
        indexes = [models.Index(fields=["project", "trace_id", "start_ns"], name="step_trace")]

    @property
    def duration_ms(self):
        return (self.end_ns - self.start_ns) / 1e6 if self.end_ns >= self.start_ns else None

    def received(self) -> dict:
        """The span as received: `raw` with the long strings it shares with the other columns put
        back (tracing.received). Read this, not `raw`."""
        return received.restore(self.raw, received.step_columns(self))

    @property
    def status(self):
        return "error" if self.is_error else "ok"


class AuditEvent(models.Model):
    """Security-relevant actions: logins, keys, roles, exports, imports, retention and redaction changes."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)  # username, or "key st_abc…" for API keys
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-at"], name="audit_project"),
                   models.Index(fields=["action", "target", "-at"], name="audit_action")]


class RedactionRule(models.Model):
    """A project's own secret pattern, applied at index time beside the built-in rules."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="redaction_rules")
    name = models.SlugField(max_length=60)
    pattern = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="redaction_rule_unique")]


from tracing.spend_models import SpendBucket, SpendHour, SpendRun  # noqa: E402,F401  (spend buckets: their own module, see tracing/spend.py)
from tracing.search_models import SearchDocument  # noqa: E402,F401  (full-text search: tracing/search.py)


class SavedView(models.Model):
    """A user's named runs-list view: the filter and sort query string, nothing else."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project", "name"], name="saved_view_unique")]
