"""GET /api/v1/runs and GET /api/v1/runs/<trace_id>, with the field names of ARCHITECTURE.md."""
from decimal import Decimal

from django.views.decorators.http import require_GET

from dashboards.api_common import api_view, json_response
from dashboards.forms import RunFilterForm
from tracing import runs as run_queries
from tracing.indexer import ns_to_datetime
from tracing.models import Run, Step

DEFAULT_LIMIT = 50


def money(value: Decimal | None) -> str | None:
    """Exact decimal string without exponent or trailing zeros; None stays None (unpriced)."""
    if value is None:
        return None
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def run_json(run: Run) -> dict:
    return {
        "trace_id": run.trace_id, "root_span_id": run.root_span_id or None, "name": run.name, "agent": run.agent,
        "service": run.service, "status": run.status,
        "started_at": run.started_at.isoformat(), "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "duration_ms": run.duration_ms, "steps": run.steps, "llm_calls": run.llm_calls,
        "tool_calls": run.tool_calls, "errors": run.errors, "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens, "cache_read_tokens": run.cache_read_tokens,
        "cache_write_tokens": run.cache_write_tokens, "reasoning_tokens": run.reasoning_tokens,
        "cost_usd": money(run.cost_usd), "unpriced_calls": run.unpriced_calls, "models": run.models_used,
        "session_id": run.session_id or None, "user_id": run.user_id or None, "tags": run.tags,
    }


def step_json(step: Step) -> dict:
    return {
        "trace_id": step.trace_id, "span_id": step.span_id, "parent_span_id": step.parent_span_id or None,
        "depth": getattr(step, "depth", None), "kind": step.kind, "name": step.name, "operation": step.operation,
        "status": step.status, "started_at": ns_to_datetime(step.start_ns).isoformat(),
        "ended_at": ns_to_datetime(step.end_ns).isoformat(), "start_ns": step.start_ns, "end_ns": step.end_ns,
        "duration_ms": step.duration_ms, "model": step.model, "request_model": step.request_model,
        "provider": step.provider, "input_tokens": step.input_tokens, "output_tokens": step.output_tokens,
        "cache_read_tokens": step.cache_read_tokens, "cache_write_tokens": step.cache_write_tokens,
        "reasoning_tokens": step.reasoning_tokens, "cost_usd": money(step.cost_usd),
        "cost_source": step.cost_source or None, "cost_breakdown": step.cost_breakdown,
        "price_version": step.price_version, "cost_note": step.cost_note,
        "tool_name": step.tool_name, "tool_call_id": step.tool_call_id, "tool_arguments": step.tool_arguments,
        "tool_result": step.tool_result, "tool_calls": step.tool_calls, "tool_definitions": step.tool_definitions,
        "system_instructions": step.system_instructions, "input": step.input, "output": step.output,
        "reasoning": step.reasoning, "finish_reasons": step.finish_reasons,
        "error": {"type": step.error_type, "message": step.error_message} if step.is_error else None,
        "session_id": step.session_id or None, "user_id": step.user_id or None, "agent": step.agent_name or None,
        "tags": step.tags, "attributes": step.attributes,
    }


@require_GET
@api_view
def runs_index(request, project):
    form = RunFilterForm(request.GET)
    if not form.is_valid():
        return json_response({"error": "invalid filter", "fields": form.errors.get_json_data()}, status=400)
    runs = run_queries.filter_runs(project, form.filters())
    limit = form.cleaned_data["limit"] or DEFAULT_LIMIT
    try:
        rows, next_cursor = run_queries.page(runs, form.sort_value, form.cleaned_data["cursor"], limit)
    except run_queries.BadCursor:
        return json_response({"error": "invalid cursor"}, status=400)
    return json_response({"runs": [run_json(r) for r in rows], "next_cursor": next_cursor})


@require_GET
@api_view
def run_detail(request, project, trace_id):
    run = Run.objects.filter(project=project, trace_id=trace_id.lower()).first()
    if run is None:
        return json_response({"error": "no such run"}, status=404)
    return json_response({"run": run_json(run), "steps": [step_json(s) for s in run_queries.step_tree(run)]})
