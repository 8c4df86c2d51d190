"""JSON API: export one run (OTLP/JSON or the HTML report) and bulk-export a runs filter as a zip."""
from django.views.decorators.http import require_GET

from dashboards.api_common import api_view, json_response
from dashboards.exports_views import FORMATS, bulk_export_response, run_export_response, selected_runs
from ingest.auth import key_from_headers
from tracing.models import ApiKey, Run


def _actor(request):
    """Who the audit log names: the API key when one was sent (api_view checked it), else the user."""
    raw = key_from_headers(request.headers.get("Authorization", ""), request.headers.get("x-api-key", ""))
    return ApiKey.lookup(raw) if raw else request.user


@require_GET
@api_view
def run_export(request, project, trace_id):
    fmt = request.GET.get("format", "otlp-json")
    if fmt not in FORMATS:
        return json_response({"error": "format must be otlp-json or html"}, status=400)
    run = Run.objects.filter(project=project, trace_id=trace_id.lower()).first()
    if run is None:
        return json_response({"error": "no such run"}, status=404)
    return run_export_response(request, project, run, fmt, _actor(request))


@require_GET
@api_view
def bulk_export(request, project):
    runs, filters, error, form = selected_runs(request, project)
    if error:
        return json_response({"error": "invalid filter", "fields": form.errors.get_json_data()}, status=400)
    return bulk_export_response(request, project, runs, filters, _actor(request))
