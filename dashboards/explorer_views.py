"""The run explorer: runs list (live), run detail with its step tree and step pane, sessions."""
import json

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from dashboards import charts, saved_views, step_display
from dashboards.access import access_project, access_run, at_least_member
from dashboards.forms import RunFilterForm
from tracing import runs as run_queries
from tracing.models import Step

PAGE_SIZE = 50
TREE_CHUNK = 400  # step rows per response on the run page


@login_required
def runs_list(request, slug):
    project = access_project(request, slug)
    form = RunFilterForm(request.GET)
    rows, next_cursor, bad_cursor = [], None, False
    if form.is_valid():
        runs = run_queries.filter_runs(project, form.filters())
        try:
            rows, next_cursor = run_queries.page(runs, form.sort_value, form.cleaned_data["cursor"], PAGE_SIZE)
        except run_queries.BadCursor:
            bad_cursor = True
    ctx = {"project": project, "form": form, "runs": rows, "next_cursor": next_cursor, "bad_cursor": bad_cursor,
           "sort": form.sort_value, "live": not request.GET.get("cursor")}
    if request.htmx:  # the live refresh: the same row partial, first page only
        return render(request, "dashboards/runs_rows.html", ctx)
    ctx["facets"] = run_queries.facets(project)
    ctx["saved_views"] = saved_views.views_for(request.user, project)
    ctx["at_least_member"] = at_least_member(request.user, project)  # saves views, exports
    ctx["sort_links"] = _sort_links(ctx["sort"])
    return render(request, "dashboards/runs.html", ctx)


def _sort_links(current):
    """Per sortable column: the sort a click on its header asks for (descending first) and its arrow."""
    arrows = {current.lstrip("-"): "▼" if current.startswith("-") else "▲"}
    return {key: {"next": key if current == f"-{key}" else f"-{key}", "arrow": arrows.get(key, "")}
            for key in run_queries.SORTS}


@login_required
def run_detail(request, slug, trace_id):
    project = access_project(request, slug)
    run = access_run(project, trace_id)
    steps = run_queries.tree_rows(run)
    timeline = run_queries.timeline(steps)
    if request.GET.get("rows", "").isdigit():  # the next chunk of a long tree (see run_tree_rows.html)
        ctx = {"project": project, "run": run, **_tree_chunk(steps, int(request.GET["rows"]))}
        return render(request, "dashboards/run_tree_rows.html", ctx)
    ctx = {
        "project": project, "run": run, "step_count": len(steps), "timeline": timeline,
        "cost": run_queries.cost_summary(run),
        "charts": {"context": charts.context_size(steps), "cost": charts.cumulative_cost(steps)},
        **_tree_chunk(steps, 0),
    }
    if steps:  # the first step's pane comes with the page; a deep link to another one loads it
        ctx.update(_pane_ctx(Step.objects.get(project=project, trace_id=run.trace_id, span_id=steps[0].span_id)))
    ctx["at_least_member"] = at_least_member(request.user, project)  # may export
    return render(request, "dashboards/run.html", ctx)


def _tree_chunk(steps, start):
    """Long trees arrive in chunks: the page renders the first, then fetches the next one after
    another (htmx), so a 2,000-step run is usable after its first rows, not after all of them."""
    end = start + TREE_CHUNK
    return {"rows": steps[start:end], "next_start": end if end < len(steps) else None}


def _pane_ctx(step):
    ran_by = run_queries.requested_tool_steps(step) if step.kind == "llm" else {}
    return {"step": step, "pane": step_display.pane(step, ran_by)}


def _step(project, trace_id, span_id):
    run = access_run(project, trace_id)
    return run, get_object_or_404(Step, project=project, trace_id=run.trace_id, span_id=span_id.lower())


@login_required
def run_step(request, slug, trace_id, span_id):
    """The step pane, loaded on demand (htmx) so a 2,000-step run page stays light."""
    project = access_project(request, slug)
    run, step = _step(project, trace_id, span_id)
    ctx = {"project": project, "run": run, **_pane_ctx(step)}
    return render(request, "dashboards/_step_pane.html", ctx)


@login_required
def step_value(request, slug, trace_id, span_id):
    """A clipped value in full ("show all"), or a whole conversation (`?messages=1`). Without a
    `path`: the whole span as received."""
    project = access_project(request, slug)
    run, step = _step(project, trace_id, span_id)
    try:
        path = json.loads(request.GET.get("path", '["raw"]'))
        value = step_display.resolve(step, path)
    except (ValueError, KeyError):
        raise Http404("No such value.")
    ctx = {"project": project, "run": run, "step": step}
    if request.GET.get("messages") and path in (["input"], ["output"]):
        ctx["conv"] = step_display.conversation(value, path[0], everything=True)
        return render(request, "dashboards/_step_messages.html", ctx)
    ctx["clip"] = step_display.clip(value, path, limit=10**9)
    return render(request, "dashboards/_step_value.html", ctx)


@login_required
def session_detail(request, slug):
    project = access_project(request, slug)
    session_id = request.GET.get("id", "")
    if not session_id:
        raise Http404("No session given.")
    runs, totals = run_queries.session_runs(project, session_id)  # none yet: an empty page, like a filter
    ctx = {"project": project, "session_id": session_id, "runs": runs, "totals": totals}
    return render(request, "dashboards/session.html", ctx)
