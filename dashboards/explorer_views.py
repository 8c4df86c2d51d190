from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from dashboards.access import access_project, access_run
from tracing import runs as run_queries


@login_required
def runs_list(request, slug):
    project = access_project(request, slug)
    ctx = {"project": project, "runs": run_queries.recent_runs(project)[:100]}
    return render(request, "dashboards/runs.html", ctx)


@login_required
def run_detail(request, slug, trace_id):
    project = access_project(request, slug)
    run = access_run(project, trace_id)
    ctx = {"project": project, "run": run, "steps": run_queries.step_tree(run)}
    return render(request, "dashboards/run.html", ctx)
