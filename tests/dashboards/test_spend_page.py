"""The spend page: tables under every chart, CSV downloads, and the same numbers as the API."""
import csv
import io
import json
from decimal import Decimal

import pytest

from tests.diff_spend_builders import agent_run, minutes_ago, send  # noqa: F401 (send is a fixture)
from tracing.spend_report import GROUPS

pytestmark = pytest.mark.django_db

ALL = {"range": "all"}
TOTAL = Decimal("0.03953")


@pytest.fixture
def spend_data(send):
    """Three runs over two agents, three models, tools with a reported cost, tags, and one unpriced run."""
    send(agent_run(tools=("search", "fetch", "search"), tool_cost="0.01", user="ana",
                                    session="s-1", tags=("eu", "beta"), start_ms=minutes_ago(90))[1])
    send(agent_run(agent="planner", model="o3-mini", tools=("search",), reasoning=60, cached=500,
                                    user="li", tags=("eu",), start_ms=minutes_ago(30))[1])
    send(agent_run(agent="planner", model="house-7b", provider="acme", tools=(),
                                    tool_error="boom", start_ms=minutes_ago(10))[1])


def csv_rows(response):
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def api(client, **params):
    response = client.get("/api/v1/spend", {"project": "acme", **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_anonymous_is_sent_to_login_and_strangers_get_404(client, project, django_user_model):
    assert client.get("/p/acme/spend/").status_code == 302
    client.force_login(django_user_model.objects.create_user("mallory", password="x"))
    assert client.get("/p/acme/spend/").status_code == 404


def test_page_shows_totals_unpriced_apart_and_explains_costs(client, alice, spend_data):
    client.force_login(alice)
    response = client.get("/p/acme/spend/")
    assert response.status_code == 200
    html = response.content.decode()
    totals = response.context["totals"]
    assert totals["unpriced_calls"] == 2 and totals["unpriced_tokens"] == 2200
    # gpt-4o run: 2 × (1,000 × $2.50 + 100 × $10)/M + 3 tools × $0.01 = $0.037; o3-mini run: 2 × (500 × $1.10
    # + 500 cached × $0.55 + 100 × $4.40)/M = $0.00253; the house model is unpriced.
    assert totals["cost_usd"] == TOTAL
    dist = response.context["dist"]
    assert (dist["runs"], dist["priced_runs"], dist["unknown_cost_runs"], dist["successful_runs"]) == (3, 2, 1, 3)
    assert dist["cost_per_successful_run"] == Decimal("0.019765")  # (0.037 + 0.00253) / 2 priced ok runs
    assert (dist["median"], dist["max"]) == (Decimal("0.037"), Decimal("0.037"))
    assert "How costs are computed" in html and "genai-prices" in html and "answer / no tool" in html
    for name in ("fig-over-time", "fig-breakdown", "fig-cost-per-run"):
        assert f'<script id="{name}" type="application/json">' in html
    assert "<script>" not in html  # no inline script: the CSP would refuse it


def test_api_page_table_and_csv_show_the_same_numbers(client, alice, spend_data):
    client.force_login(alice)
    for group_by in GROUPS:
        page = client.get("/p/acme/spend/", {**ALL, "group_by": group_by})
        table = [[c["value"] for c in row] for row in page.context["breakdown_table"]["rows"]]
        data = api(client, **ALL, group_by=group_by)
        downloaded = csv_rows(client.get("/p/acme/spend/", {**ALL, "group_by": group_by, "format": "csv",
                                                            "table": "breakdown"}))
        assert [r["key"] for r in data["rows"]] == [row[0] for row in table] == [r[group_by] for r in downloaded]
        assert [r["cost_usd"] for r in data["rows"]] == [row[1] for row in table] == [r["cost_usd"] for r in downloaded]
        assert [str(r["unpriced_calls"]) for r in data["rows"]] == [r["unpriced_calls"] for r in downloaded]
        if group_by != "tag":  # a run's tags each carry all of it
            assert sum(Decimal(r["cost_usd"]) for r in downloaded) == Decimal(data["totals"]["cost_usd"]), group_by


def test_tool_breakdown_splits_llm_cost_among_requested_tools(client, alice, spend_data):
    client.force_login(alice)
    rows = {r["key"]: r for r in api(client, **ALL, group_by="tool")["rows"]}
    assert rows["fetch"]["cost_usd"] == "0.0111666666"  # a third of $0.0035, plus its own $0.01
    assert rows["answer / no tool"]["unpriced_calls"] == 2
    assert all(isinstance(r["cost_usd"], str) for r in rows.values())


def test_filters_pick_runs_like_the_runs_list(client, alice, spend_data):
    client.force_login(alice)
    assert api(client, **ALL, agent="planner")["totals"]["runs"] == 2
    assert api(client, **ALL, model="o3-mini")["totals"]["cost_usd"] == "0.0025300000"
    assert api(client, **ALL, tag="beta")["totals"]["runs"] == 1
    assert api(client, **ALL, user="li", provider="openai")["totals"]["runs"] == 1
    assert api(client, **ALL, status="in_progress")["totals"]["runs"] == 0


def test_time_range_presets_and_custom_dates(client, alice, spend_data):
    client.force_login(alice)
    assert api(client)["totals"]["runs"] == 3  # default: the last 7 days
    assert api(client, since="2020-01-01", until="2020-12-31")["totals"]["cost_usd"] == "0.0000000000"
    by_day = api(client, group_by="day", range="24h")["rows"]
    assert sum(Decimal(r["cost_usd"]) for r in by_day) == TOTAL


def test_every_table_downloads_as_csv(client, alice, spend_data):
    client.force_login(alice)
    for table in ("over_time", "cost_per_run", "top_runs", "top_steps"):
        rows = csv_rows(client.get("/p/acme/spend/", {"format": "csv", "table": table}))
        assert rows, table
    over_time = csv_rows(client.get("/p/acme/spend/", {"format": "csv", "table": "over_time", "range": "24h"}))
    assert sum(Decimal(r["cost_usd"]) for r in over_time) == TOTAL
    assert sum(int(r["runs"]) for r in csv_rows(client.get("/p/acme/spend/", {"format": "csv", "table": "cost_per_run"}))) == 2


def test_csv_cells_from_spans_cannot_become_formulas(client, alice, send):
    send(agent_run(tools=("=HYPERLINK(\"http://evil\")",), start_ms=minutes_ago(5))[1])
    client.force_login(alice)
    rows = csv_rows(client.get("/p/acme/spend/", {"format": "csv", "table": "tool"}))
    assert {r["tool"] for r in rows} == {"'=HYPERLINK(\"http://evil\")", "answer / no tool"}


def test_hostile_keys_are_escaped_in_page_and_chart_labels(client, alice, send):
    send(agent_run(tools=("<img src=x onerror=alert(1)>",), start_ms=minutes_ago(5))[1])
    client.force_login(alice)
    html = client.get("/p/acme/spend/", {"group_by": "tool"}).content.decode()
    assert "<img src=x" not in html
    figure = json.loads(html.split('<script id="fig-breakdown" type="application/json">')[1].split("</script>")[0])
    assert "&lt;img src=x onerror=alert(1)&gt;" in figure["data"][0]["y"]  # plotly shows entities as text


def test_bad_parameters(client, alice, spend_data):
    client.force_login(alice)
    assert client.get("/api/v1/spend", {"project": "acme", "since": "yesterday"}).status_code == 400
    assert client.get("/api/v1/spend", {"project": "acme", "group_by": "color"}).status_code == 400
    page = client.get("/p/acme/spend/", {"since": "not a date", "range": "custom"})
    assert page.status_code == 200 and "showing the default range" in page.content.decode()


def test_api_needs_a_read_key_or_a_session(client, project, api_key, spend_data):
    from tracing.models import ApiKey

    assert client.get("/api/v1/spend").status_code == 401
    _, ingest_only = ApiKey.issue(project, scopes=("ingest",))
    assert client.get("/api/v1/spend", HTTP_AUTHORIZATION=f"Bearer {ingest_only}").status_code == 403
    response = client.get("/api/v1/spend", {"range": "all"}, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 200 and response.json()["totals"]["runs"] == 3


def test_spend_page_query_budget(client, alice, spend_data, django_assert_max_num_queries):
    client.force_login(alice)
    for params in ({}, {"group_by": "tool", "stack": "agent", "model": "gpt-4o", "status": "ok", "range": "90d"}):
        with django_assert_max_num_queries(18):
            assert client.get("/p/acme/spend/", params).status_code == 200


def test_a_date_as_until_means_the_end_of_that_day():
    from datetime import datetime, timezone

    from dashboards.diff_spend_forms import SpendForm

    form = SpendForm({"since": "2025-10-09", "until": "2025-10-09"})
    assert form.is_valid(), form.errors
    f = form.filters(datetime.now(timezone.utc))
    assert (f.since, f.until) == (datetime(2025, 10, 9, tzinfo=timezone.utc), datetime(2025, 10, 10, tzinfo=timezone.utc))
    at = SpendForm({"since": "2025-10-09T14:30:00+02:00", "until": "2025-10-09T15:10Z"})
    assert at.is_valid() and at.filters(datetime.now(timezone.utc)).since == datetime(2025, 10, 9, 12, tzinfo=timezone.utc)
    assert at.filters(datetime.now(timezone.utc)).until == datetime(2025, 10, 9, 16, tzinfo=timezone.utc)  # whole hours


def test_over_time_widens_its_bars_to_cover_all_time(client, alice, project, send):
    project.retention_days = 3650
    project.save()
    send(agent_run(start_ms=0)[1])  # 2025-10-09, long before the other
    send(agent_run(start_ms=minutes_ago(5))[1])
    client.force_login(alice)
    response = client.get("/p/acme/spend/", {"format": "csv", "table": "over_time", "range": "all"})
    rows = csv.DictReader(io.StringIO(response.content.decode()))
    assert rows.fieldnames[0] in ("week", "month")
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.014")  # 2 runs × 2 × $0.0035


def test_spend_older_than_the_projects_retention_is_not_shown(client, alice, project, send):
    send(agent_run(start_ms=0)[1])  # 2025-10-09: older than the 30 days acme keeps
    send(agent_run(start_ms=minutes_ago(5))[1])
    client.force_login(alice)
    data = api(client, range="all")
    assert data["totals"]["runs"] == 1 and data["totals"]["cost_usd"] == "0.0070000000"
    assert data["since"] is not None


def typed(value):
    """Equal also in types: a count as Decimal(3) equals 3, but the page formats only ints as counts."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return type(value).__name__, value


def test_the_page_shows_the_costliest_keys_in_the_order_of_the_full_breakdown(client, alice, project, send, monkeypatch):
    """The page's breakdown is ordered and cut in SQL; it is the head of the CSV's, ties included (equal
    cost, then unpriced calls, then the key in code point order, on both databases)."""
    from dashboards import diff_spend_views
    from tracing import spend_report

    for i, session in enumerate(("b", "B", "a", "é", "Z", "zz", "a b")):
        send(agent_run(session=session, tools=(), start_ms=minutes_ago(50 - i))[1])  # the same cost each
    send(agent_run(session="costly", tools=(), input_tokens=90_000, start_ms=minutes_ago(5))[1])
    send(agent_run(session="unpriced", model="house-7b", provider="acme", tools=(), start_ms=minutes_ago(4))[1])
    for filters in (spend_report.SpendFilters(), spend_report.SpendFilters(status="ok")):  # hourly cells; per-run rows
        full = spend_report.breakdown(project, filters, "session")
        assert [r["key"] for r in full][:3] == ["costly", "B", "Z"]
        for limit in (1, 4, 9, 20):
            top, count = spend_report.top_of_breakdown(project, filters, "session", limit)
            assert (typed(top), count) == (typed(full[:limit]), 9)
    monkeypatch.setattr(diff_spend_views, "TABLE_ROWS", 4)
    client.force_login(alice)
    page = client.get("/p/acme/spend/", {**ALL, "group_by": "session"})
    assert [row[0]["value"] for row in page.context["breakdown_table"]["rows"]] == ["costly", "B", "Z", "a"]
    assert "The 4 costliest of 9" in page.content.decode()


# The table loop as a template wrote it before the rows were built in Python: the oracle for escaping.
_TEMPLATE_LOOP = ('{% for row in rows %}<tr>{% for cell in row %}<td{% if cell.num %} class="num"{% endif %}'
                  '{% if cell.value is not None %} data-value="{{ cell.value }}"{% endif %}>{% if cell.empty %}'
                  '<span class="muted">{{ cell.text }}</span>{% else %}{{ cell.text|truncatechars:80 }}{% endif %}'
                  '</td>{% endfor %}</tr>{% endfor %}')


def test_table_rows_are_escaped_and_formatted_as_the_template_loop_did():
    from django.template import Context, Template

    from dashboards.spend_tables import display
    from dashboards.templatetags.diff_spend import spend_table_body

    hostile = '<script>alert("x")</script> & "quotes" ' + "é" * 90
    header = ["session", "cost_usd", "runs", "input_tokens", "note"]
    rows = [[hostile, Decimal("0.0000001"), 3, 1_234_567, None], ["", Decimal("12.5"), 0, None, "a<b"],
            ["2026-11-21T00:00:00+00:00", None, 10, 5, Decimal("1E-7")]]
    table = display((header, rows), "session")
    expected = Template(_TEMPLATE_LOOP).render(Context({"rows": table["rows"]}))
    got = spend_table_body(table["rows"])
    assert got == expected
    assert "<script>" not in got and "&lt;script&gt;" in got


@pytest.mark.pg_only  # the one pass exists on PostgreSQL only; elsewhere page() reads them apart
@pytest.mark.parametrize("picks", [{"status": "ok"}, {"model": "gpt-4o"}, {"agent": "planner", "tag": "eu"}, {}])
def test_the_page_numbers_read_in_one_pass_equal_the_ones_read_apart(project, spend_data, picks):
    """On PostgreSQL a filtered page reads the totals, the chart and the breakdown in one pass over the
    picked runs' buckets: the same numbers, types included, as each read on its own."""
    from django.db import connection

    assert connection.vendor == "postgresql", "run this test on the PostgreSQL pass"
    from datetime import timedelta

    from django.utils import timezone

    from tracing import spend_report

    seen_units = set()
    now = timezone.now()
    # Over-time bars by hour (all of it, 6 hours), day (10 days), week (400 days) and month (2,000 days).
    for since in (None, *(now - timedelta(days=d) for d in (0.25, 10, 400, 2000))):
        f = spend_report.SpendFilters(since=since, until=now, **picks)
        units = {spend_report.over_time(project, f, "model", now)["unit"]}
        for group_by in spend_report.GROUPS:
            for stack in spend_report.STACKS:
                got = spend_report.page(project, f, group_by, stack, now, limit=2)
                rows, count = spend_report.top_of_breakdown(project, f, group_by, 2)
                if group_by == "day":
                    rows = rows[:2]
                    got["rows"] = got["rows"][:2]
                assert typed(got) == typed({"totals": spend_report.totals(project, f), "rows": rows, "count": count,
                                            "series": spend_report.over_time(project, f, stack, now)})
        seen_units.update(units)
    assert seen_units == {"hour", "day", "week", "month"}


@pytest.mark.parametrize("costs", [[7], [5, 1], list(range(11, 0, -1)), [3, 3, 1, 9, 9, 9, 2, 5, 8, 4, 6, 7, 0, 10]])
def test_cost_per_run_median_and_p90_are_the_runs_at_those_ranks(project, costs):
    """Median: the priced run at rank n // 2 (0 the cheapest); p90: at rank int(0.9 n), the costliest at most.
    Unpriced runs and runs outside the filters are not ranked."""
    from django.utils import timezone

    from tracing import bulk, spend_report
    from tracing.models import Run
    from tracing.spend_models import SpendRun

    now = timezone.now()
    rows = [SpendRun(project=project, trace_id=f"{i:032x}", started_at=now, status=Run.OK, cost_units=c * 10**8)
            for i, c in enumerate(costs)]
    rows += [SpendRun(project=project, trace_id=f"u{i:031x}", started_at=now, status=Run.OK, unpriced_calls=1)
             for i in range(3)]
    rows.append(SpendRun(project=project, trace_id="e" * 32, started_at=now, status=Run.ERROR, cost_units=10**12))
    bulk.insert(SpendRun, rows)
    dist = spend_report.cost_per_run(project, spend_report.SpendFilters(status=Run.OK))
    ranked, n = sorted(costs), len(costs)
    assert (dist["runs"], dist["priced_runs"], dist["unknown_cost_runs"]) == (n + 3, n, 3)
    assert dist["median"] == Decimal(ranked[n // 2]) / 100
    assert dist["p90"] == Decimal(ranked[min(n - 1, int(n * 0.9))]) / 100
    assert dist["max"] == Decimal(max(costs)) / 100
