from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dashboards.access import access_project, projects_for
from ingest import health, indexing
from ingest.models import IngestBatch
from tracing.models import Membership


@login_required
def home(request):
    project = projects_for(request.user).first()
    if project is None:
        return render(request, "dashboards/no_project.html")
    return redirect("runs", slug=project.slug)


@login_required
def ingest_health(request, slug):
    project = access_project(request, slug)
    ctx = {"project": project, **health.summary(project)}
    return render(request, "dashboards/ingest_health.html", ctx)


@login_required
@require_POST
def redrive_batch(request, slug, batch_id):
    project = access_project(request, slug, Membership.ADMIN)
    batch = get_object_or_404(IngestBatch, project=project, id=batch_id)
    indexing.redrive(batch.id)
    messages.info(request, f"Batch {batch.id} queued for indexing again.")
    return redirect("ingest-health", slug=project.slug)
