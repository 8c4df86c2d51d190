"""Hostile span content through the real OTLP endpoint, into every field the explorer shows: nothing
runs (no dialog, no console marker, no CSP report, no injected element) and the text reads literally."""
import json

import pytest

from tests.conftest import login
from tests.dashboards.explorer_data import fast_passwords, inprocess_indexing, post  # noqa: F401 (autouse)
from tests.otlp_builders import new_span_id, new_trace_id, span

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("inprocess_indexing")]

SCRIPT = '<script>console.log("XSS-MARK script")</script>'
IMG = '<img src=x onerror=console.log("XSS-MARK img")>'
SVG = '<svg onload=console.log("XSS-MARK svg")><circle r=5 /></svg>'
JS_URL = 'javascript:console.log("XSS-MARK url")'
QUOTE = '"><iframe srcdoc="<script>parent.console.log(`XSS-MARK iframe`)</script>">'
TEMPLATE = "{{ request.user }}{% debug %}${alert(1)}#{7*7}"
PAYLOADS = [SCRIPT, IMG, SVG, JS_URL, QUOTE, TEMPLATE]


def hostile_trace():
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    messages = [{"role": "system", "parts": [{"type": "text", "content": SVG}]},
                {"role": "user", "parts": [{"type": "text", "content": SCRIPT + " " + TEMPLATE}]},
                {"role": IMG, "parts": [{"type": QUOTE, "content": JS_URL}]}]
    output = [{"role": "assistant", "parts": [{"type": "reasoning", "content": IMG},
                                              {"type": "text", "content": f'<a href="{JS_URL}">click</a>'},
                                              {"type": "tool_call", "id": QUOTE, "name": SCRIPT,
                                               "arguments": {IMG: SVG}}]}]
    spans = [
        span(trace_id, root, SCRIPT, start_ms=0, dur_ms=900, attrs={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": IMG, "gen_ai.conversation.id": QUOTE,
            "user.id": SVG, "tag.tags": [SCRIPT, TEMPLATE], IMG: JS_URL, TEMPLATE: QUOTE}),
        span(trace_id, llm, IMG, parent=root, start_ms=10, dur_ms=300, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": SVG, "gen_ai.request.model": SCRIPT,
            "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10,
            "gen_ai.input.messages": json.dumps(messages), "gen_ai.output.messages": json.dumps(output),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": QUOTE}]),
            "gen_ai.tool.definitions": json.dumps([{"type": "function", "name": SVG, "description": IMG}]),
            "gen_ai.response.finish_reasons": [SCRIPT]}),
        span(trace_id, tool, SVG, parent=root, start_ms=320, dur_ms=50, error=IMG, attrs={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": QUOTE,
            "gen_ai.tool.call.arguments": json.dumps({"url": JS_URL, "html": SCRIPT}),
            "gen_ai.tool.call.result": IMG + SVG + TEMPLATE * 200, "error.type": SCRIPT}),
    ]
    return trace_id, spans


def show_everything(pane):
    """Click every visible "show all": the full values come from another endpoint."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(40):
        buttons = pane.locator("button.show-all:visible")
        if not buttons.count():
            return
        try:
            buttons.first.click(timeout=3000)
        except PlaywrightTimeout:
            continue  # the button was swapped out by the value an earlier click loaded: look again
        pane.page.wait_for_load_state("networkidle")
    raise AssertionError("'show all' buttons kept appearing")


def assert_nothing_ran(page, console):
    assert page.script_errors == []  # no dialog, no uncaught error
    assert not [m for m in console if "XSS-MARK" in m or "Content Security Policy" in m], console
    injected = page.locator("img[src='x'], svg[onload], iframe, script:not([src]):not([type='application/json']),"
                            " a[href^='javascript'], [onerror], [onload]")
    assert injected.count() == 0


def test_hostile_spans_never_execute_and_read_literally(live_server, page, api_key, alice):
    trace_id, spans = hostile_trace()
    post(live_server, api_key, spans)
    console = []
    page.on("console", lambda m: console.append(m.text))
    login(page, live_server, "alice", "alice-password")

    page.goto(f"{live_server.url}/p/acme/runs/")
    row = page.locator(f"#run-{trace_id}")
    text = row.inner_text()
    assert IMG[:40] in text and SCRIPT[:30] in text  # the agent name and the tag, as text
    assert_nothing_ran(page, console)

    page.goto(f"{live_server.url}/p/acme/runs/{trace_id}/")
    pane = page.locator("#step-pane")
    for span_ in spans[1:] + spans[:1]:  # every step's pane, details and raw tab, then back to the root
        page.goto(f"{live_server.url}/p/acme/runs/{trace_id}/#{span_.span_id.hex()}")
        pane.locator(f".pane[data-span='{span_.span_id.hex()}']").wait_for()
        for summary in pane.locator("summary:visible").all():
            summary.click()
        show_everything(pane)
        pane.locator("[data-tab=raw]").click()
        show_everything(pane)
        assert_nothing_ran(page, console)
    details = pane.inner_text()
    assert JS_URL in details and TEMPLATE in details and QUOTE in details  # literally, from the raw attributes
    page.goto(f"{live_server.url}/p/acme/runs/{trace_id}/#{spans[1].span_id.hex()}")
    pane.locator(f".pane[data-span='{spans[1].span_id.hex()}']").wait_for()
    for needle in (SCRIPT, SVG, TEMPLATE):
        assert needle in pane.inner_text()
    page.locator("[data-chart='cost'] .main-svg, [data-chart='context'] .main-svg").first.wait_for()
    assert_nothing_ran(page, console)

    page.goto(f"{live_server.url}/p/acme/runs/")
    page.locator(f"#run-{trace_id} a.session").click()
    page.wait_for_url("**/session/?id=*")
    assert QUOTE in page.locator("h1").inner_text() and page.locator(f"#run-{trace_id}").count() == 1
    assert_nothing_ran(page, console)
