"""Members save runs-list views (a name for a query string) and delete their own."""
from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboards.access import access_project
from dashboards.forms import RunFilterForm
from tracing.models import Membership, SavedView


def views_for(user, project):
    return SavedView.objects.filter(user=user, project=project).order_by("name")


def _clean_query(raw: str) -> str:
    """Keep only the runs filter's own fields, never a cursor: a saved view always starts at page one."""
    allowed = set(RunFilterForm.base_fields) - {"cursor"}
    return urlencode([(k, v) for k, v in parse_qsl(raw) if k in allowed and v][:50])


@login_required
@require_POST
def save_view(request, slug):
    project = access_project(request, slug, Membership.MEMBER)
    name = request.POST.get("name", "").strip()[:80]
    query = _clean_query(request.POST.get("query", ""))
    if not name:
        messages.error(request, "Give the view a name.")
    else:
        SavedView.objects.update_or_create(user=request.user, project=project, name=name, defaults={"query": query})
        messages.info(request, f"Saved view “{name}”.")
    return redirect(reverse("runs", kwargs={"slug": slug}) + (f"?{query}" if query else ""))


@login_required
@require_POST
def delete_view(request, slug, view_id):
    project = access_project(request, slug, Membership.MEMBER)
    get_object_or_404(SavedView, id=view_id, project=project, user=request.user).delete()
    return redirect("runs", slug=slug)
