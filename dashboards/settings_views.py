"""Project settings: API keys, members and roles, retention, redaction, audit log (admins)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dashboards import settings_forms as forms
from dashboards.access import access_project
from tracing import administration as admin
from tracing.audit import client_ip
from tracing.models import ApiKey, AuditEvent, Membership
from tracing.redaction import BUILTIN_RULES, RULE_DESCRIPTIONS


@login_required
def overview(request, slug):
    project = access_project(request, slug)
    is_admin = request.user.is_superuser or Membership.objects.filter(
        user=request.user, project=project, role=Membership.ADMIN).exists()
    ctx = {"project": project, "is_admin": is_admin, "retention_form": forms.RetentionForm(
        initial={"retention_days": project.retention_days})}
    return render(request, "dashboards/settings/overview.html", ctx)


@login_required
@require_POST
def retention(request, slug):
    project = access_project(request, slug, Membership.ADMIN)
    form = forms.RetentionForm(request.POST)
    if form.is_valid():
        admin.set_retention(project, request.user, form.cleaned_data["retention_days"], ip=client_ip(request))
        messages.info(request, f"Runs older than {form.cleaned_data['retention_days']} days will be deleted.")
    else:
        messages.error(request, "Retention must be between 1 and 3650 days.")
    return redirect("settings", slug=slug)


@login_required
def keys(request, slug):
    project = access_project(request, slug, Membership.ADMIN)
    form, new_key = forms.KeyForm(request.POST or None), None
    if request.method == "POST" and form.is_valid():
        _, new_key = admin.create_key(project, request.user, form.cleaned_data["name"], form.cleaned_data["scopes"],
                                      ip=client_ip(request))
        form = forms.KeyForm()
    ctx = {"project": project, "form": form, "new_key": new_key,
           "keys": ApiKey.objects.filter(project=project).order_by("revoked_at", "-created_at")}
    return render(request, "dashboards/settings/keys.html", ctx)


@login_required
@require_POST
def revoke_key(request, slug, key_id):
    project = access_project(request, slug, Membership.ADMIN)
    if admin.revoke_key(project, request.user, key_id, ip=client_ip(request)):
        messages.info(request, "Key revoked: requests with it now get 401.")
    return redirect("settings-keys", slug=slug)


@login_required
def members(request, slug):
    project = access_project(request, slug, Membership.ADMIN)
    form, password = forms.MemberForm(request.POST or None), None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        _, password = admin.add_member(project, request.user, d["username"], d["role"], d["email"], ip=client_ip(request))
        messages.info(request, f"{d['username']} is now a {d['role']} of {project.name}.")
        form = forms.MemberForm()
    ctx = {"project": project, "form": form, "new_password": password, "roles": Membership.ROLES,
           "memberships": Membership.objects.filter(project=project).select_related("user").order_by("user__username")}
    return render(request, "dashboards/settings/members.html", ctx)


@login_required
@require_POST
def member_role(request, slug, membership_id):
    project = access_project(request, slug, Membership.ADMIN)
    form = forms.RoleForm(request.POST)
    try:
        if "remove" in request.POST:
            admin.remove_member(project, request.user, membership_id, ip=client_ip(request))
        elif form.is_valid():
            admin.set_role(project, request.user, membership_id, form.cleaned_data["role"], ip=client_ip(request))
    except (ValueError, Membership.DoesNotExist) as exc:
        messages.error(request, str(exc) if isinstance(exc, ValueError) else "No such member.")
    return redirect("settings-members", slug=slug)


@login_required
def redaction(request, slug):
    project = access_project(request, slug, Membership.ADMIN)
    rule_form = forms.RuleForm(project=project)
    if request.method == "POST" and "pattern" in request.POST:
        rule_form = forms.RuleForm(request.POST, project=project)
        if rule_form.is_valid():
            admin.add_rule(project, request.user, rule_form.cleaned_data["name"], rule_form.cleaned_data["pattern"],
                           ip=client_ip(request))
            return redirect("settings-redaction", slug=slug)
    elif request.method == "POST":
        builtin_form = forms.BuiltinRulesForm(request.POST)
        if builtin_form.is_valid():
            admin.set_builtin_rules(project, request.user, builtin_form.cleaned_data["enabled"], ip=client_ip(request))
            return redirect("settings-redaction", slug=slug)
    enabled = [name for name in BUILTIN_RULES if name not in project.redaction_disabled]
    ctx = {"project": project, "rule_form": rule_form, "rules": project.redaction_rules.order_by("name"),
           "builtins": [(name, RULE_DESCRIPTIONS[name], name in enabled) for name in BUILTIN_RULES]}
    return render(request, "dashboards/settings/redaction.html", ctx)


@login_required
@require_POST
def delete_rule(request, slug, rule_id):
    project = access_project(request, slug, Membership.ADMIN)
    admin.delete_rule(project, request.user, rule_id, ip=client_ip(request))
    return redirect("settings-redaction", slug=slug)


@login_required
def audit_log(request, slug):
    project = access_project(request, slug, Membership.ADMIN)
    events = AuditEvent.objects.filter(project=project).order_by("-at")
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "dashboards/settings/audit.html", {"project": project, "page": page})
