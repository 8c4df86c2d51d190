"""The diff and spend pages in Chromium, on runs sent over HTTP to the live server's /v1/traces."""
import csv
import io
import urllib.request
from decimal import Decimal

import pytest

from tests.conftest import login
from tests.diff_spend_builders import PB, agent_run, minutes_ago
from tests.otlp_builders import request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def send(live_server, api_key, spans):
    req = urllib.request.Request(f"{live_server.url}/v1/traces", data=request(spans), method="POST",
                                 headers={"Content-Type": PB, "Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        assert response.status == 200


def csp_problems(page):
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def test_pick_two_runs_and_land_on_their_first_divergence(live_server, api_key, alice, page):
    a, spans_a = agent_run(tools=("search",), answer="Sunny all week.", start_ms=minutes_ago(50))
    b, spans_b = agent_run(tools=("search", "fetch"), answer="Rain from Tuesday.", start_ms=minutes_ago(20))
    send(live_server, api_key, spans_a)
    send(live_server, api_key, spans_b)
    problems = csp_problems(page)
    login(page, live_server, "alice", "alice-password")

    page.goto(f"{live_server.url}/p/acme/diff/")
    page.select_option("select[name=a]", a)
    page.select_option("select[name=b]", b)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/p/acme/diff/?a={a}&b={b}")

    card = page.locator("#first-divergence")
    assert card.is_visible()
    assert "first divergence" in card.inner_text().lower() and "at row 2 of 5" in card.inner_text()
    assert "chat gpt-4o" in card.inner_text()
    assert page.locator(".drow[data-op=added]").count() == 1
    assert page.locator("ins", has_text="Rain").first.is_visible()
    # From B, "compare with the previous run of its agent" lands on the same pair.
    page.click("text=B vs the previous run of its agent")
    page.wait_for_url(f"**/p/acme/diff/?a={a}&b={b}")
    assert page.script_errors == [] and problems == []


def test_spend_page_switch_grouping_and_csv_totals_match_the_api(live_server, api_key, alice, page):
    send(live_server, api_key, agent_run(tools=("search", "fetch"), tool_cost="0.02", start_ms=minutes_ago(80))[1])
    send(live_server, api_key, agent_run(agent="planner", model="o3-mini", reasoning=40, start_ms=minutes_ago(40))[1])
    send(live_server, api_key, agent_run(model="house-7b", provider="acme", start_ms=minutes_ago(10))[1])
    problems = csp_problems(page)
    login(page, live_server, "alice", "alice-password")

    page.goto(f"{live_server.url}/p/acme/spend/")
    page.wait_for_selector("#fig-breakdown + .chart.drawn .main-svg", state="attached")
    assert page.locator(".chart.drawn").count() == 3  # plotly.js served locally drew every figure
    page.click("#breakdown .seg a[data-group=tool]")
    page.wait_for_url("**group_by=tool**")
    page.wait_for_selector("#breakdown .chart.drawn", state="attached")
    assert "Tool attribution" in page.locator("#breakdown").inner_text()
    keys = page.locator("table[data-table=breakdown] tbody tr td:first-child").all_inner_texts()
    assert set(keys) == {"search", "fetch", "answer / no tool"}

    with page.expect_download() as info:
        page.click("#breakdown a[data-csv=breakdown]")
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    api = page.request.get(f"{live_server.url}/api/v1/spend?project=acme&group_by=tool").json()
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal(api["totals"]["cost_usd"])
    assert {r["tool"]: r["cost_usd"] for r in rows} == {r["key"]: r["cost_usd"] for r in api["rows"]}
    assert sum(int(r["unpriced_calls"]) for r in rows) == api["totals"]["unpriced_calls"] == 2
    assert page.script_errors == [] and problems == []
