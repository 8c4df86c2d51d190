"""`GET /api/v1/diff` and `GET /api/v1/spend`: the same numbers as the diff and spend pages."""
import json

from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboards.api_common import api_view, json_response
from dashboards.diff_spend_forms import SpendForm, form_errors
from dashboards.spend_tables import money
from tracing import pricing, run_diff, spend_report
from tracing.spend_report import COLUMNS


@require_GET
@api_view
def api_diff(request, project):
    a, b = (request.GET.get(k, "").strip() for k in ("a", "b"))
    if not a or not b:
        return json_response({"error": "pass ?a=<trace_id>&b=<trace_id> (b may be `previous`)"}, status=400)
    try:
        run_a, run_b = run_diff.resolve_pair(project, a, b)
    except run_diff.DiffError as exc:
        return json_response({"error": str(exc)}, status=404)
    result = run_diff.diff_runs(run_a, run_b)
    first = result["first_divergence"]
    result["first_divergence_summary"] = run_diff.divergence_summary(result["rows"][first]) if first is not None else None
    result["totals"]["cost_usd"] = {k: money(v) for k, v in result["totals"]["cost_usd"].items()}
    return _json(result)


def _json(data):
    try:
        return json_response(data)
    except TypeError:  # span content orjson cannot encode (an integer past 64 bits): slower, exact
        response = json_response({})
        response.content = json.dumps(data, default=str).encode()
        return response


@require_GET
@api_view
def api_spend(request, project):
    form = SpendForm(request.GET)
    if not form.is_valid():
        return json_response({"error": form_errors(form)}, status=400)
    now = timezone.now()
    f = spend_report.within_retention(project, form.filters(now), now)
    group_by = form.cleaned_data["group_by"]
    rows = spend_report.breakdown(project, f, group_by)
    totals = spend_report.totals(project, f)
    return json_response({
        "project": project.slug,
        "group_by": group_by,
        "since": f.since.isoformat() if f.since else None,
        "until": f.until.isoformat() if f.until else None,
        "filters": {k: v for k, v in f.dimension_filters().items()} | ({"status": f.status} if f.status else {}),
        "currency": "USD",
        "price_version": pricing.price_version(),
        "rows": [_public(r) for r in rows],
        "totals": {**_public(totals), "reasoning_share": _share(totals["reasoning_share"]),
                   "output_cost_usd": money(totals["output_cost_usd"]),
                   "reasoning_cost_usd": money(totals["reasoning_cost_usd"])},
    })


def _public(row):
    """Cost as string decimals; unpriced usage in its own fields, never folded into cost."""
    return {c: money(row[c]) if c.endswith("_usd") else row[c] for c in COLUMNS}


def _share(value):
    return None if value is None else format(value.quantize(spend_report.SHARE_PLACES), "f")
