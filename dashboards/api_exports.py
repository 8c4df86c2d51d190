"""JSON API: export one run (OTLP/JSON or the HTML report) and bulk-export a runs filter as a zip."""
from dashboards.api_common import api_view, json_response
from dashboards.exports_views import FORMATS, bulk_export_response, run_export_response
from ingest.auth import key_from_headers
from tracing import export
from tracing.models import ApiKey, Run


def _actor(request):
    """Who the audit log names: the API key when one was sent (api_view checked it), else the user."""
    raw = key_from_headers(request.headers.get("Authorization", ""), request.headers.get("x-api-key", ""))
    return ApiKey.lookup(raw) if raw else request.user


@api_view
def run_export(request, project, trace_id):
    fmt = request.GET.get("format", "otlp-json")
    if fmt not in FORMATS:
        return json_response({"error": "format must be otlp-json or html"}, status=400)
    run = Run.objects.filter(project=project, trace_id=trace_id.lower()).first()
    if run is None:
        return json_response({"error": "no such run"}, status=404)
    return run_export_response(request, project, run, fmt, _actor(request))


@api_view
def bulk_export(request, project):
    try:
        filters = export.parse_filters(request.GET)
    except export.FilterError as exc:
        return json_response({"error": str(exc)}, status=400)
    return bulk_export_response(request, project, filters, _actor(request))
