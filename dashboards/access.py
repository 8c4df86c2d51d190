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


def access_run(project, trace_id) -> Run:
    return get_object_or_404(Run, project=project, trace_id=trace_id.lower())
