"""The only places that decide who may see what: one helper per object type.

Anything outside the user's projects is a 404, never a 403, so ids do not leak.
"""
from django.http import Http404
from django.shortcuts import get_object_or_404

from tracing.models import Membership, Project, Run


def projects_for(user):
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.order_by("name")
    return Project.objects.filter(memberships__user=user).order_by("name")


def access_project(request, slug, role=Membership.VIEWER) -> Project:
    project = get_object_or_404(projects_for(request.user), slug=slug)
    if not request.user.is_superuser:
        membership = Membership.objects.get(user=request.user, project=project)
        if not membership.allows(role):
            raise Http404("No such project.")
    return project


def at_least_member(user, project) -> bool:
    return user.is_superuser or Membership.objects.filter(
        user=user, project=project, role__in=[Membership.MEMBER, Membership.ADMIN]).exists()


def access_run(project, trace_id) -> Run:
    return get_object_or_404(Run, project=project, trace_id=trace_id.lower())


def api_project(request, scope="read") -> Project:
    """The project a JSON API request may read: from an API key with the `read` scope, or a
    logged-in session with `?project=<slug>` (or the user's only project). Raises ApiDenied."""
    from ingest.auth import authenticate, key_from_headers

    raw = key_from_headers(request.headers.get("Authorization", ""), request.headers.get("x-api-key", ""))
    if raw:
        key, status = authenticate(raw, scope)
        if status == 401:
            raise ApiDenied(401, "missing or invalid API key")
        if status == 403:
            raise ApiDenied(403, f"this API key lacks the '{scope}' scope")
        return key.project
    if not request.user.is_authenticated:
        raise ApiDenied(401, "send Authorization: Bearer <API key> or log in")
    projects = projects_for(request.user)
    slug = request.GET.get("project")
    if slug:
        project = projects.filter(slug=slug).first()
    else:
        project = projects.first() if projects.count() == 1 else None
        if project is None:
            raise ApiDenied(400, "several projects: pass ?project=<slug>")
    if project is None:
        raise ApiDenied(404, "no such project")
    return project


class ApiDenied(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message
