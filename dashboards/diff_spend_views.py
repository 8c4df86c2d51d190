from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from dashboards import charts_spend, diff_display, spend_tables
from dashboards.access import access_project
from dashboards.diff_spend_forms import RANGE_CHOICES, DiffForm, SpendForm, form_errors, picked_pair
from tracing import pricing, run_diff, spend_report
from tracing.runs import recent_runs
from tracing.spend import ANSWER

RECENT_FOR_PICKER = 50
FILTER_LISTS = ("agent", "model", "provider", "tag")  # small vocabularies offered as suggestions
TABLE_ROWS = 100  # rows of a breakdown shown on the page; the CSV and the API have every row


@login_required
def diff_page(request, slug):
    project = access_project(request, slug)
    a, b, chronological = picked_pair(request.GET)
    ctx = {"project": project}
    if a or b:
        try:
            run_a, run_b = run_diff.resolve_pair(project, a, b)
        except run_diff.DiffError as exc:
            ctx["error"] = str(exc)
        else:
            if chronological and run_a.started_at > run_b.started_at:
                run_a, run_b = run_b, run_a
            canonical = {"a": run_a.trace_id, "b": run_b.trace_id}
            if request.GET.dict() != canonical:  # b=previous, a pasted id, a selection: a URL to share
                return redirect(f"{reverse('diff', args=[project.slug])}?{urlencode(canonical)}")
            ctx.update(diff_display.page(run_diff.diff_runs(run_a, run_b)), run_a=run_a, run_b=run_b)
            return render(request, "dashboards/diff.html", ctx)
    ctx["form"] = DiffForm(list(recent_runs(project)[:RECENT_FOR_PICKER]), a, b)
    return render(request, "dashboards/diff_pick.html", ctx)


@login_required
def spend_page(request, slug):
    project = access_project(request, slug)
    form = SpendForm(request.GET)
    error = "" if form.is_valid() else form_errors(form)
    if error:
        form = SpendForm({})
        form.is_valid()
    now = timezone.now()
    f, opts = spend_report.within_retention(project, form.filters(now), now), form.cleaned_data
    if request.GET.get("format") == "csv":
        name = request.GET.get("table", "breakdown")
        name = name if name in spend_tables.TABLES else "breakdown"
        header, rows = spend_tables.build(name, project, f, opts, now)
        return spend_tables.csv_response(f"spend-{project.slug}-{name}.csv", header, rows)
    shown = spend_report.page(project, f, opts["group_by"], opts["stack"], now, TABLE_ROWS)
    series, rows = shown["series"], shown["rows"]
    dist = spend_report.cost_per_run(project, f)
    ctx = {
        "project": project, "form": form, "error": error, "filters": f, "opts": opts,
        "totals": shown["totals"], "series": series, "rows": rows, "dist": dist,
        "over_time_table": spend_tables.display(spend_tables.over_time_table(series), opts["stack"], money_from=3),
        "breakdown_table": spend_tables.display(spend_tables.breakdown_table(rows[:TABLE_ROWS], opts["group_by"]),
                                                opts["group_by"]),
        "breakdown_count": shown["count"], "table_rows": TABLE_ROWS,
        "dist_table": spend_tables.display(spend_tables.cost_per_run_table(dist)),
        "top_runs": spend_report.top_runs(project, f), "top_steps": spend_report.top_steps(project, f),
        "charts": {"over_time": charts_spend.over_time(series, opts["stack"]),
                   "breakdown": charts_spend.breakdown(rows, opts["group_by"]),
                   "cost_per_run": charts_spend.cost_per_run(dist["bins"])},
        "suggestions": spend_report.filter_values(project, f, FILTER_LISTS, now), "filter_lists": FILTER_LISTS,
        "range_choices": RANGE_CHOICES,
        "stacks": spend_report.STACKS, "groups": spend_report.GROUPS, "empty_key": spend_tables.EMPTY_KEY,
        "price_version": pricing.price_version(), "answer_key": ANSWER,
        "query": {k: v for k, v in request.GET.items() if k not in ("format", "table")},
    }
    return render(request, "dashboards/spend.html", ctx)
