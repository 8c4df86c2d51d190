"""Query-string forms of the diff and spend pages; the JSON API parses the same way.

SpendForm's filter fields mirror the runs list's (agent, model, provider, user, session, tag,
status, since, until): once the explorer's runs filter form lands they can share one base.
"""
from datetime import datetime, time, timedelta, timezone as dt_timezone

from django import forms
from django.utils.dateparse import parse_date, parse_datetime

from tracing.models import Run
from tracing.run_diff import PREVIOUS
from tracing.spend_report import GROUPS, STACKS, SpendFilters

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
RANGE_CHOICES = [("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("90d", "Last 90 days"),
                 ("all", "All time"), ("custom", "Custom")]
STATUS_CHOICES = [("", "any status"), (Run.OK, "ok"), (Run.ERROR, "error"), (Run.IN_PROGRESS, "in progress"),
                  (Run.INCOMPLETE, "incomplete")]
DEFAULT_RANGE = "7d"


class MomentField(forms.CharField):
    """An ISO date or datetime; naive means UTC. A date as `until` means the end of that day."""

    def __init__(self, *args, end_of_day=False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(*args, required=False, **kwargs)

    def clean(self, value):
        value = (super().clean(value) or "").strip()
        if not value:
            return None
        day = parse_date(value) if len(value) == 10 else None  # checked first: fromisoformat takes dates too
        try:
            moment = None if day else parse_datetime(value.replace(" ", "T").replace("Z", "+00:00"))
        except ValueError:  # well formed but out of range, e.g. hour 25
            moment = None
        if day:
            moment = datetime.combine(day + timedelta(days=1 if self.end_of_day else 0), time(), dt_timezone.utc)
        elif moment is None:
            raise forms.ValidationError("Use a date (2025-10-09) or an ISO datetime (2025-10-09T14:00Z).")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt_timezone.utc)
        return moment.astimezone(dt_timezone.utc)


class SpendForm(forms.Form):
    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False)
    since = MomentField()
    until = MomentField(end_of_day=True)
    agent = forms.CharField(required=False, max_length=200)
    model = forms.CharField(required=False, max_length=200)
    provider = forms.CharField(required=False, max_length=100)
    user = forms.CharField(required=False, max_length=200)
    session = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    group_by = forms.ChoiceField(choices=[(g, g) for g in GROUPS], required=False)
    stack = forms.ChoiceField(choices=[(s, s) for s in STACKS], required=False)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if not data.get("range"):
            data["range"] = "custom" if since or until else DEFAULT_RANGE
        if since and until and since >= until:
            raise forms.ValidationError("`since` must be before `until`.")
        data["group_by"] = data.get("group_by") or "model"
        data["stack"] = data.get("stack") or "model"
        return data

    def filters(self, now: datetime) -> SpendFilters:
        """The cleaned filters; a preset range counts back from `now`."""
        d = self.cleaned_data
        since, until = d.get("since"), d.get("until")
        if d["range"] in RANGES:
            since, until = now - RANGES[d["range"]], None
        elif d["range"] == "all":
            since = until = None
        return SpendFilters(since=since, until=until, **{k: (d.get(k) or "").strip() for k in (
            "agent", "model", "provider", "user", "session", "tag", "status")})


def form_errors(form: forms.Form) -> str:
    return "; ".join(f"{'' if field == '__all__' else field + ': '}{' '.join(errs)}" for field, errs in form.errors.items())


class DiffForm(forms.Form):
    """Pick two runs: a recent run from a list, or any trace id pasted in; B may be `previous`.
    Only rendered: the view reads a, b (or a_id, b_id) from the query string itself."""

    a = forms.ChoiceField(required=False, label="Run A (baseline)")
    a_id = forms.CharField(required=False, max_length=64, label="or paste a trace id")
    b = forms.ChoiceField(required=False, label="Run B")
    b_id = forms.CharField(required=False, max_length=64, label="or paste a trace id")

    def __init__(self, recent_runs, a="", b=""):
        listed = {r.trace_id for r in recent_runs}
        initial = {"a": a if a in listed else "", "a_id": "" if a in listed else a,
                   "b": b if b in listed or b == PREVIOUS else "", "b_id": "" if b in listed or b == PREVIOUS else b}
        super().__init__(initial=initial)
        choices = [("", "— pick a recent run —")] + [
            (r.trace_id, f"{r.started_at:%Y-%m-%d %H:%M} · {r.agent or '(no agent)'} · {(r.name or r.trace_id)[:50]}"
                         f" · {r.status}") for r in recent_runs]
        self.fields["a"].choices = choices
        self.fields["b"].choices = choices[:1] + [(PREVIOUS, "the previous run of A's agent")] + choices[1:]


def picked_pair(params) -> tuple[str, str, bool]:
    """(a, b, chronological) from the query string; a pasted id wins over the list. The runs
    list's selection sends ?run=<id>&run=<id>: then the older run becomes A (chronological)."""
    def one(side):
        return (params.get(f"{side}_id") or "").strip() or (params.get(side) or "").strip()

    a, b = one("a"), one("b")
    selected = [r.strip() for r in params.getlist("run") if r.strip()] if hasattr(params, "getlist") else []
    if not a and not b and len(selected) == 2:
        return selected[0], selected[1], True
    return a, b, False
