"""Project administration: keys, members, retention, redaction. Every change is audited."""
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tracing import audit
from tracing.models import ApiKey, Membership, Project, RedactionRule
from tracing.redaction import BUILTIN_RULES


def create_key(project, actor, name, scopes, ip=None):
    """Returns (key, raw); the raw key is shown once and never stored."""
    key, raw = ApiKey.issue(project, name=name, scopes=scopes)
    audit.record(actor, project, "api_key_created", target=f"{key.prefix}… ({name})", detail={"scopes": scopes}, ip=ip)
    return key, raw


def revoke_key(project, actor, key_id, ip=None) -> bool:
    key = ApiKey.objects.filter(project=project, id=key_id, revoked_at__isnull=True).first()
    if key is None:
        return False
    ApiKey.objects.filter(id=key.id).update(revoked_at=timezone.now())
    audit.record(actor, project, "api_key_revoked", target=f"{key.prefix}… ({key.name})", ip=ip)
    return True


@transaction.atomic
def add_member(project, actor, username, role, email="", ip=None):
    """Adds an existing user, or creates one. Returns (membership, one-time password or None)."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username=username, email=email, password=password)
        audit.record(actor, project, "user_created", target=username, ip=ip)
    membership, created = Membership.objects.get_or_create(user=user, project=project, defaults={"role": role})
    if not created and membership.role != role:
        return set_role(project, actor, membership.id, role, ip), password
    audit.record(actor, project, "member_added", target=username, detail={"role": role}, ip=ip)
    return membership, password


def set_role(project, actor, membership_id, role, ip=None):
    membership = Membership.objects.select_related("user").get(project=project, id=membership_id)
    old = membership.role
    if old == Membership.ADMIN and role != Membership.ADMIN and _last_admin(project, membership):
        raise ValueError("a project needs at least one admin")
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(actor, project, "role_changed", target=membership.user.get_username(), detail={"from": old, "to": role}, ip=ip)
    return membership


def remove_member(project, actor, membership_id, ip=None):
    membership = Membership.objects.select_related("user").get(project=project, id=membership_id)
    if membership.role == Membership.ADMIN and _last_admin(project, membership):
        raise ValueError("a project needs at least one admin")
    membership.delete()
    audit.record(actor, project, "member_removed", target=membership.user.get_username(), ip=ip)


def _last_admin(project, membership):
    return not Membership.objects.filter(project=project, role=Membership.ADMIN).exclude(id=membership.id).exists()


def set_retention(project, actor, days, ip=None):
    old = project.retention_days
    Project.objects.filter(id=project.id).update(retention_days=days)
    audit.record(actor, project, "retention_changed", detail={"from": old, "to": days}, ip=ip)


def set_builtin_rules(project, actor, enabled, ip=None):
    disabled = sorted(set(BUILTIN_RULES) - set(enabled))
    Project.objects.filter(id=project.id).update(redaction_disabled=disabled, redaction_version=F("redaction_version") + 1)
    audit.record(actor, project, "redaction_changed", detail={"disabled_builtins": disabled}, ip=ip)


def add_rule(project, actor, name, pattern, ip=None):
    RedactionRule.objects.create(project=project, name=name, pattern=pattern)
    Project.objects.filter(id=project.id).update(redaction_version=F("redaction_version") + 1)
    audit.record(actor, project, "redaction_rule_added", target=name, detail={"pattern": pattern}, ip=ip)


def delete_rule(project, actor, rule_id, ip=None):
    rule = RedactionRule.objects.filter(project=project, id=rule_id).first()
    if rule:
        rule.delete()
        Project.objects.filter(id=project.id).update(redaction_version=F("redaction_version") + 1)
        audit.record(actor, project, "redaction_rule_deleted", target=rule.name, ip=ip)
