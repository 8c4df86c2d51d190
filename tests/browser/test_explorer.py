"""The run explorer in Chromium, on data sent through the real OTLP endpoint: filter and search the
runs list, open a run, move through steps with the keyboard, read reasoning and tool arguments,
follow a deep link, watch a new run arrive live, and open a 2,000-step run."""
import time

import pytest

from tests.conftest import login
from tests.dashboards.explorer_data import fast_passwords, inprocess_indexing, ms_ago, post, run_spans  # noqa: F401
from tests.otlp_builders import new_span_id, new_trace_id, span

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("inprocess_indexing")]


def send_run(live_server, api_key, **kwargs):
    trace_id, spans, ids = run_spans(**kwargs)
    post(live_server, api_key, spans)
    return trace_id, ids


def run_ids(page):
    return page.locator("#run-rows tr[data-trace]").evaluate_all("rows => rows.map(r => r.dataset.trace)")


def test_filter_search_open_a_run_and_walk_it_with_the_keyboard(live_server, page, api_key, alice):
    lisbon, ids = send_run(live_server, api_key, agent="weather-bot", tool_args={"city": "Lisbon"},
                           reasoning="The user wants Lisbon; call get_weather first.", start_ms=ms_ago(30))
    failed, _ = send_run(live_server, api_key, agent="planner", error=True, start_ms=ms_ago(20))
    send_run(live_server, api_key, agent="weather-bot", tool_args={"city": "Oslo"}, start_ms=ms_ago(10))
    login(page, live_server, "alice", "alice-password")

    page.goto(f"{live_server.url}/p/acme/runs/")
    assert len(run_ids(page)) == 3
    page.select_option("select[name=status]", "error")  # a select applies at once
    page.wait_for_url("**/runs/?status=error")  # empty fields stay out of the URL
    assert run_ids(page) == [failed]

    page.goto(f"{live_server.url}/p/acme/runs/")
    page.fill("input[name=q]", "lisb")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/runs/?q=lisb")
    assert run_ids(page) == [lisbon]

    page.click(f"#run-{lisbon} td.run-name > a")
    page.wait_for_url(f"**/runs/{lisbon}/")
    pane = page.locator("#step-pane")
    pane.locator(".pane[data-span='%s']" % ids["root"]).wait_for()  # the root is selected first
    page.locator("[data-chart='cost'] .main-svg").first.wait_for()  # plotly drew the charts under the CSP
    assert page.locator("[data-chart='context'] .main-svg").count() >= 1

    page.keyboard.press("j")
    pane.locator(".pane[data-span='%s']" % ids["llm"]).wait_for()
    assert page.url.endswith(f"#{ids['llm']}")
    reasoning = pane.locator("details.reasoning.block")
    reasoning.locator("summary").click()
    assert "The user wants Lisbon; call get_weather first." in reasoning.inner_text()

    page.keyboard.press("ArrowDown")
    pane.locator(".pane[data-span='%s']" % ids["tool"]).wait_for()
    assert '"city": "Lisbon"' in pane.locator(".tool-args").inner_text()
    page.keyboard.press("k")
    pane.locator(".pane[data-span='%s']" % ids["llm"]).wait_for()

    page.goto(f"{live_server.url}/p/acme/runs/{lisbon}/#{ids['tool']}")  # a deep link
    pane.locator(".pane[data-span='%s']" % ids["tool"]).wait_for()
    assert page.locator(f"tr[id='{ids['tool']}']").get_attribute("aria-selected") == "true"
    pane.locator("[data-tab=raw]").click()
    assert "gen_ai.tool.call.arguments" in pane.locator("[data-panel=raw]").inner_text()
    assert page.script_errors == []


def test_a_new_run_appears_without_a_reload(live_server, page, api_key, alice):
    first, _ = send_run(live_server, api_key, start_ms=ms_ago(60))
    login(page, live_server, "alice", "alice-password")
    page.goto(f"{live_server.url}/p/acme/runs/")
    assert run_ids(page) == [first]
    page.evaluate("window.sameDocument = true")
    fresh, _ = send_run(live_server, api_key, agent="late-arrival", start_ms=ms_ago(1))
    page.locator(f"#run-{fresh}").wait_for(timeout=12_000)  # the table polls every 5 s
    assert run_ids(page) == [fresh, first]
    assert page.evaluate("window.sameDocument") is True
    assert "late-arrival" in page.locator(f"#run-{fresh}").inner_text()
    assert page.script_errors == []


def test_a_two_thousand_step_run_opens_and_streams_its_tree(live_server, page, api_key, alice):
    trace_id, root = new_trace_id(), new_span_id()
    spans = [span(trace_id, root, "invoke_agent big", dur_ms=2_000_000, attrs={"gen_ai.agent.name": "big"})]
    for i in range(1999):
        attrs = ({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                  "gen_ai.usage.input_tokens": 1000 + i, "gen_ai.usage.output_tokens": 50} if i % 2 else
                 {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"})
        spans.append(span(trace_id, new_span_id(), f"step {i}", parent=root, start_ms=i * 900, dur_ms=800, attrs=attrs))
    post(live_server, api_key, spans)
    last, before_last = spans[-1].span_id.hex(), spans[-2].span_id.hex()  # children sort by start time
    login(page, live_server, "alice", "alice-password")

    started = time.perf_counter()
    page.goto(f"{live_server.url}/p/acme/runs/{trace_id}/#{last}", wait_until="commit")  # into the last chunk
    page.locator("tr[data-span]").first.wait_for()
    first_rows = time.perf_counter() - started
    page.locator(f"#step-pane .pane[data-span='{last}']").wait_for(timeout=20_000)
    all_rows = time.perf_counter() - started
    assert page.locator("tr[data-span]").count() == 2000
    page.keyboard.press("k")
    page.locator(f"#step-pane .pane[data-span='{before_last}']").wait_for()
    print(f"\n2,000 steps in Chromium: first rows {first_rows * 1000:.0f} ms, "
          f"all rows and the deep-linked step {all_rows * 1000:.0f} ms")
    assert page.script_errors == []
