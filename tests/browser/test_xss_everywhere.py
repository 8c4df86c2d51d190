"""Span content is hostile: an XSS corpus ingested into every field, then every page is opened in
Chromium. Nothing may execute, injected markup must not become elements, the text must show
literally, and every response must carry the Content-Security-Policy."""
import json

import pytest

from tests.conftest import login
from tests.otlp_builders import new_span_id, new_trace_id, request, span

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    '<script>alert("xss-1")</script>',
    '<img src=x onerror=alert("xss-2")>',
    'javascript:alert("xss-3")',
    '<svg onload=alert("xss-4")>',
    '"><script>alert("xss-5")</script>',
    "<a href=\"javascript:alert('xss-6')\">click me</a>",
    '</script><script>alert("xss-7")</script>',
    "<iframe srcdoc=\"<script>alert('xss-8')</script>\"></iframe>",
    "{{ 7|add:42 }} {% now 'Y' %} ${7*7}",
]
EVIL = " ".join(PAYLOADS)
INJECTED = "script:not([src]), [onerror], [onload], img[src='x'], iframe, a[href^='javascript:']"


def hostile_run(session="sess<script>alert(9)</script>", model="gpt-4o"):
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    messages = [{"role": "user", "parts": [{"type": "text", "content": EVIL}]}]
    out = [{"role": "assistant", "parts": [{"type": "reasoning", "content": EVIL},
                                           {"type": "text", "content": EVIL},
                                           {"type": "tool_call", "id": "c1", "name": PAYLOADS[0], "arguments": {"q": EVIL}}]}]
    spans = [
        span(trace_id, root, PAYLOADS[0], dur_ms=900, attrs={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": PAYLOADS[1], "session.id": session,
            "user.id": PAYLOADS[3], "tag.tags": [PAYLOADS[4]], PAYLOADS[5]: EVIL}),
        span(trace_id, llm, PAYLOADS[2], parent=root, start_ms=10, dur_ms=400, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
            "gen_ai.input.messages": json.dumps(messages), "gen_ai.output.messages": json.dumps(out),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": EVIL}])}),
        span(trace_id, tool, PAYLOADS[6], parent=root, start_ms=420, dur_ms=50, error=EVIL, attrs={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": PAYLOADS[7],
            "gen_ai.tool.call.arguments": json.dumps({"html": EVIL}), "error.type": PAYLOADS[8]}),
    ]
    return trace_id, request(spans)


def test_nothing_executes_anywhere(live_server, client, api_key, alice, page, tmp_path):
    traces = []
    for model in ("gpt-4o", "gpt-4o-mini"):
        trace_id, body = hostile_run(model=model)
        assert client.post("/v1/traces", data=body, content_type="application/x-protobuf",
                           HTTP_AUTHORIZATION=f"Bearer {api_key}").status_code == 200
        traces.append(trace_id)
    missing_csp = []
    page.on("response", lambda r: missing_csp.append(r.url) if r.url.startswith(live_server.url) and
            r.request.resource_type == "document" and "script-src 'self'" not in (r.headers.get("content-security-policy") or "") else None)
    login(page, live_server, "alice", "alice-password")
    a, b = traces
    from tracing.models import Step

    span_ids = list(Step.objects.filter(trace_id=a).values_list("span_id", flat=True))
    paths = ["/p/acme/runs/", f"/p/acme/runs/?q={PAYLOADS[0]}", f"/p/acme/runs/{a}/",
             *[f"/p/acme/runs/{a}/#{s}" for s in span_ids], f"/p/acme/diff/?a={a}&b={b}", "/p/acme/spend/",
             "/p/acme/connect/", "/p/acme/ingest/", "/p/acme/settings/audit/"]
    from tracing.models import Run

    session = Run.objects.get(trace_id=a).session_id
    from django.urls import reverse

    paths.append(reverse("session", kwargs={"slug": "acme"}) + "?" + __import__("urllib.parse").parse.urlencode({"id": session}))
    for path in paths:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        for row in page.locator("[data-span]").all()[:5]:  # open step panes where the page has them
            row.click()
            page.wait_for_load_state("networkidle")
        assert page.locator(INJECTED).count() == 0, f"injected markup became elements on {path}"
        assert page.script_errors == [], f"{path}: {page.script_errors}"
    page.goto(f"{live_server.url}/p/acme/runs/{a}/")
    assert PAYLOADS[0] in page.inner_text("body")  # shown literally
    assert "{{ 7|add:42 }}" in page.inner_text("body")  # not evaluated as a template
    assert missing_csp == []

    # The HTML incident report, opened from disk with the network off.
    export = client.get(f"/api/v1/runs/{a}/export?format=html", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert export.status_code == 200
    report = tmp_path / "report.html"
    report.write_bytes(export.content)
    page.context.set_offline(True)
    page.goto(report.as_uri())
    assert page.locator(INJECTED).count() == 0
    assert PAYLOADS[0] in page.inner_text("body")
    assert page.script_errors == []
