"""Pages to take runs out (export), bring them in (import), and connect an agent.

The work is in tracing.export, tracing.report and tracing.imports; the response builders
here are shared with the JSON API (dashboards.api_exports) so both audit the same way.
"""
from datetime import datetime, timezone as dt_timezone
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from dashboards.access import access_project, access_run
from dashboards.forms import RunFilterForm
from ingest.models import IngestBatch
from tracing import audit, export, imports, report
from tracing.models import ApiKey, Membership, Run
from tracing.runs import filter_runs, step_tree

FORMATS = ("otlp-json", "html")
PREVIEW_RUNS = 25
NOT_FILTERS = ("sort", "cursor", "limit")  # runs-list parameters that page, not select


def selected_runs(request, project):
    """(runs, filter as given, error, form): the runs-list filter in the query string selects exactly the
    runs the runs page lists for the same parameters (the explorer's form and filter_runs)."""
    form = RunFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in form.errors.items())
        return Run.objects.none(), {}, f"Invalid filter: {errors}", form
    given = {k: request.GET[k] for k in form.fields if k not in NOT_FILTERS and request.GET.get(k)}
    return filter_runs(project, form.filters()).order_by("-started_at", "-id"), given, "", form


# --- responses shared with the API ------------------------------------------------------------


def run_export_response(request, project, run, fmt, actor) -> HttpResponse:
    steps = step_tree(run)
    body = export.run_otlp_json(steps)
    digest = export.sha256(body)
    event = audit.record(actor, project, "run_exported", target=run.trace_id,
                         detail={"format": fmt, "sha256": digest, "spans": len(steps)}, ip=audit.client_ip(request))
    if fmt == "html":
        html, _ = report.render_report(run, project, exported_by=event.actor_label, exported_at=event.at, steps=steps)
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
    else:
        response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{export.run_filename(run.trace_id, fmt)}"'
    response["X-Sagatrace-Otlp-Sha256"] = digest
    return response


def bulk_export_response(request, project, runs, filters, actor) -> StreamingHttpResponse:
    event = audit.record(actor, project, "runs_exported", target=urlencode(filters),
                         detail={"filter": filters, "runs": runs.count()}, ip=audit.client_ip(request))
    stream = export.export_zip(project, runs, filters, exported_by=event.actor_label, exported_at=event.at)
    response = StreamingHttpResponse(stream, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.zip_filename(project, event.at)}"'
    return response


# --- pages ------------------------------------------------------------------------------------


@login_required
@require_GET
def run_export(request, slug, trace_id):
    project = access_project(request, slug, Membership.MEMBER)  # evidence leaves the system: members+
    run = access_run(project, trace_id)
    fmt = request.GET.get("format", "otlp-json")
    if fmt not in FORMATS:
        return HttpResponseBadRequest("format must be otlp-json or html")
    return run_export_response(request, project, run, fmt, request.user)


@login_required
@require_GET
def bulk_export(request, slug):
    project = access_project(request, slug, Membership.MEMBER)
    runs, filters, error, form = selected_runs(request, project)
    if request.GET.get("download") == "zip" and not error:
        return bulk_export_response(request, project, runs, filters, request.user)
    ctx = {
        "project": project,
        "form": form,
        "filters": filters,
        "error": error,
        "count": runs.count(),
        "preview": runs[:PREVIEW_RUNS],
        "agents": Run.objects.filter(project=project).exclude(agent="").values_list("agent", flat=True)
        .order_by("agent").distinct()[:200],
    }
    return render(request, "dashboards/export.html", ctx, status=400 if error else 200)


@login_required
def import_upload(request, slug):
    project = access_project(request, slug, Membership.MEMBER)
    result, error = None, ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose a run file (.json) or a bulk export (.zip) to import."
        elif upload.size > imports.MAX_UPLOAD_BYTES:
            error = f"The file is {upload.size:,} bytes; uploads are limited to {imports.MAX_UPLOAD_BYTES:,}."
        else:
            result = imports.import_file(project, upload, name=upload.name, actor=request.user,
                                         ip=audit.client_ip(request))
    ctx = {"project": project, "result": result, "error": error, "max_bytes": imports.MAX_UPLOAD_BYTES}
    return render(request, "dashboards/import.html", ctx, status=400 if error or (result and not result.ok) else 200)


@login_required
@require_GET
def connect(request, slug):
    project = access_project(request, slug)
    base = request.build_absolute_uri("/").rstrip("/")
    since = timezone.now()
    ctx = {
        "project": project,
        "base": base,
        "traces_url": f"{base}/v1/traces",
        "langfuse_url": f"{base}/api/public/otel/v1/traces",
        "keys": ApiKey.objects.filter(project=project, revoked_at__isnull=True).order_by("-created_at")[:10],
        "can_move_runs": _at_least(request, project, Membership.MEMBER),
        **_arrival(project, since),
    }
    return render(request, "dashboards/connect.html", ctx)


@login_required
@require_GET
def connect_status(request, slug):
    """The "waiting for the first span" fragment htmx polls; it stops polling once a run is there."""
    project = access_project(request, slug)
    try:
        since = parse_datetime(request.GET.get("since", "")) or timezone.now()
    except ValueError:  # well-formed but impossible, e.g. month 13
        since = timezone.now()
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt_timezone.utc)
    return render(request, "dashboards/connect_status.html", {"project": project, **_arrival(project, since)})


def _at_least(request, project, role) -> bool:
    if request.user.is_superuser:
        return True
    membership = Membership.objects.filter(user=request.user, project=project).first()
    return bool(membership and membership.allows(role))


def _arrival(project, since: datetime) -> dict:
    """What arrived since the page was opened: nothing, spans still being indexed, or a run."""
    received = IngestBatch.objects.filter(project=project, received_at__gte=since)
    run = failed = None
    any_received = received.exists()
    if any_received:
        # The newest-started fresh run, walking the (project, -started_at) index.
        run = Run.objects.filter(project=project, last_seen_at__gte=since).order_by("-started_at", "-id").first()
        failed = received.filter(status=IngestBatch.FAILED).first()
    latest = None if run else Run.objects.filter(project=project).order_by("-started_at", "-id").first()
    return {"since": since.isoformat(), "arrived": run, "received": any_received, "failed": failed,
            "latest": latest}
