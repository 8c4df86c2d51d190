"""The runs filter: one GET form for the runs page and GET /api/v1/runs, so the URL is the view."""
from datetime import timedelta

from django import forms
from django.utils import timezone

from tracing.runs import DEFAULT_SORT, SORTS, STATUSES, RunFilter

RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(hours=24),
          "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGE_CHOICES = [("", "Any time"), ("15m", "Last 15 minutes"), ("1h", "Last hour"), ("24h", "Last 24 hours"),
                 ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("custom", "Custom…")]
STATUS_CHOICES = [("", "Any status")] + [(s, s.replace("_", " ")) for s in STATUSES]
SORT_CHOICES = [(k, k) for k in SORTS] + [(f"-{k}", f"-{k}") for k in SORTS]
MAX_LIMIT = 200


def _text(placeholder, datalist=""):
    attrs = {"placeholder": placeholder, "autocomplete": "off"}
    if datalist:
        attrs["list"] = datalist
    return forms.CharField(required=False, max_length=300, widget=forms.TextInput(attrs=attrs))


def _when():
    return forms.DateTimeField(required=False, widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))


class RunFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=500, widget=forms.SearchInput(
        attrs={"placeholder": "Search inputs, outputs, tool arguments and results…", "autocomplete": "off",
               "title": "Runs holding every word, in any of their steps; each word also matches as a prefix "
                        "(weath finds weather). Case and punctuation are ignored."}))
    agent = _text("agent", "dl-agents")
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)
    model = _text("model", "dl-models")
    provider = _text("provider")
    range = forms.ChoiceField(required=False, choices=RANGE_CHOICES)
    since = _when()
    until = _when()
    min_cost = forms.DecimalField(required=False, min_value=0, max_digits=20, decimal_places=10,
                                  widget=forms.NumberInput(attrs={"placeholder": "min $", "step": "any"}))
    session = _text("session", "dl-sessions")
    user = _text("user", "dl-users")
    tag = _text("tag", "dl-tags")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)
    cursor = forms.CharField(required=False, max_length=500)
    limit = forms.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT)

    def filters(self) -> RunFilter:
        """The cleaned filter; a range preset sets `since` relative to now unless one is given."""
        data = self.cleaned_data
        since = data.get("since")
        if not since and data.get("range") in RANGES:
            since = timezone.now() - RANGES[data["range"]]
        return RunFilter(
            agent=data.get("agent", ""), status=data.get("status", ""), model=data.get("model", ""),
            provider=data.get("provider", ""), since=since, until=data.get("until"),
            min_cost=data.get("min_cost"), session=data.get("session", ""), user=data.get("user", ""),
            tag=data.get("tag", ""), q=data.get("q", ""),
        )

    @property
    def sort_value(self) -> str:
        return (self.cleaned_data.get("sort") if self.is_valid() else "") or DEFAULT_SORT

    def show_custom_range(self) -> bool:
        data = self.data
        return data.get("range") == "custom" or bool(data.get("since") or data.get("until"))

    def active(self) -> bool:
        """Any filter set (the empty state then says 'no match', not 'no runs yet')."""
        return any(self.data.get(name) for name in self.fields if name not in ("sort", "cursor", "limit"))
