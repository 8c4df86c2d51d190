"""The audit log: one call per security-relevant action."""
from tracing.models import AuditEvent


def record(actor, project, action, target="", detail=None, ip=None) -> AuditEvent:
    """`actor` is a User, an ApiKey, a plain label, or None (the system)."""
    from tracing.models import ApiKey

    user = label = None
    if actor is None:
        label = "system"
    elif isinstance(actor, ApiKey):
        label = f"API key {actor.prefix}… ({actor.name})"
    elif isinstance(actor, str):
        label = actor
    else:
        user = actor if getattr(actor, "is_authenticated", False) else None
        label = getattr(actor, "get_username", lambda: "anonymous")()
    return AuditEvent.objects.create(
        project=project, actor=user, actor_label=label[:200], action=action, target=str(target)[:300],
        detail=detail or {}, ip=ip,
    )


def client_ip(request):
    return request.META.get("REMOTE_ADDR") or None
