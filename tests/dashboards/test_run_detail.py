"""The run page: header, step tree and waterfall, the step pane by kind, show-all, charts, budgets."""
import json
import re
from html import unescape
import time
from urllib.parse import quote

import pytest

from dashboards import explorer_views, step_display
from tests.dashboards.explorer_data import fast_passwords, ingest, make_run, run_spans  # noqa: F401 (autouse)
from tests.otlp_builders import new_span_id, new_trace_id, span
from tracing.models import Project, Run, Step


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def run_url(trace_id):
    return f"/p/acme/runs/{trace_id}/"


def pane(client, trace_id, span_id):
    response = client.get(f"{run_url(trace_id)}steps/{span_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_header_tree_and_waterfall(logged_in, project):
    trace_id, ids = make_run(project, session="conv-7", user="ana@example.com", tags=["prod"], error=True)
    response = logged_in.get(run_url(trace_id))
    html = response.content.decode()
    for text in ("helper", "conv-7", "ana@example.com", "prod", "test-agent", trace_id, "2 errors"):
        assert text in html
    rows = re.findall(r'<tr id="([0-9a-f]{16})" class="step k-(\w+)( error)?" data-span="\1" data-parent="(\w*)" '
                      r'data-depth="(\d+)"', html)
    assert [(r[0], r[1], r[4]) for r in rows] == [(ids["root"], "agent", "0"), (ids["llm"], "llm", "1"),
                                               (ids["tool"], "tool", "1")]
    assert rows[2][2] == " error"
    bars = re.findall(r'class="bar (\w+)[^"]*" style="left: ([\d.]+)%; width: ([\d.]+)%"', html)
    assert bars[0] == ("agent", "0.0", "100.0")
    assert float(bars[2][1]) == pytest.approx(520 / 600 * 100, abs=0.01)


def test_charts_are_valid_plotly_figures(logged_in, project):
    import plotly.graph_objects as go

    trace_id, ids = make_run(project)
    make_run(project, trace_id=trace_id, model="nobody-knows", provider="acme", with_root=False)  # unpriced
    html = logged_in.get(run_url(trace_id)).content.decode()
    assert "<script" not in html.split("</head>")[1]  # figures travel in escaped attributes, not script blocks
    for chart in ("context", "cost"):
        data = re.search(rf'data-chart="{chart}" data-figure="([^"]*)"', html)
        figure = json.loads(unescape(data.group(1)))
        go.Figure(figure)  # validates every property the request path skipped
        assert ids["llm"] in figure["data"][0]["customdata"]  # a point selects its step
    assert "unpriced call (not counted)" in html


def test_llm_pane_shows_conversation_reasoning_tools_and_cost(logged_in, project):
    trace_id, ids = make_run(project, question="Weather in <b>Paris</b>?", reasoning="Use the tool, then answer.",
                             cached=512, input_tokens=1200, reasoning_tokens=40)
    html = pane(logged_in, trace_id, ids["llm"])
    for text in ("gpt-4o", "openai", "1,200", "512", "40", "You are a weather bot.",
                 "Weather in &lt;b&gt;Paris&lt;/b&gt;?", "Use the tool, then answer.", "tool_call",
                 "genai-prices", "Tools offered to the model (1)", "Look it up"):
        assert text in html, text
    assert 'class="msg role-system"' in html and 'class="msg role-user"' in html and 'role-assistant' in html
    assert '<details class="reasoning block">' in html
    assert f'href="#{ids["tool"]}"' in html  # the requested call links to the tool step that ran it
    assert "&quot;city&quot;: &quot;Paris&quot;" in html  # arguments pretty-printed as JSON


def test_tool_pane_shows_arguments_result_and_error(logged_in, project):
    trace_id, ids = make_run(project, tool_args={"q": "flights", "max": 3}, tool_result={"flights": ["LH1"]},
                             error=True)
    html = pane(logged_in, trace_id, ids["tool"])
    assert '<div class="tool-args"><div class="clip"><pre class="json">{\n  &quot;q&quot;: &quot;flights&quot;' in html
    assert "&quot;LH1&quot;" in html and "tool failed" in html and 'class="error-box"' in html


def test_agent_pane_and_raw_tab(logged_in, project):
    trace_id, ids = make_run(project)
    html = pane(logged_in, trace_id, ids["root"])
    assert 'data-panel="raw"' in html
    for text in ("gen_ai.agent.name", "service.name", "test-agent", "tests"):  # attributes, resource, scope
        assert text in html


def test_large_value_is_clipped_and_show_all_loads_the_rest(logged_in, project):
    big = "word " * 3000 + "THE-END"
    trace_id, ids = make_run(project, tool_result=big)
    html = pane(logged_in, trace_id, ids["tool"])
    assert "THE-END" not in html and "Show all 15,007 characters" in html
    path = quote(json.dumps(["tool_result"]), safe="")
    assert f"?path={path}" in html
    full = logged_in.get(f"{run_url(trace_id)}steps/{ids['tool']}/value/?path={path}").content.decode()
    assert "THE-END" in full and "Show all" not in full


def test_long_conversation_shows_ends_and_loads_the_middle(logged_in, project):
    trace_id, spans, ids = run_spans()
    messages = [{"role": "user", "parts": [{"type": "text", "content": f"message number {i}"}]} for i in range(100)]
    for s in spans:
        for attr in s.attributes:
            if attr.key == "gen_ai.input.messages":
                attr.value.string_value = json.dumps(messages)
    ingest(project, spans)
    html = pane(logged_in, trace_id, ids["llm"])
    assert "message number 0<" in html and "message number 99<" in html and "message number 50<" not in html
    assert "56 messages in the middle not shown" in html
    full = logged_in.get(f"{run_url(trace_id)}steps/{ids['llm']}/value/?messages=1&path=%5B%22input%22%5D")
    assert "message number 50<" in full.content.decode()


@pytest.mark.parametrize("path", ['["search_text"]', '["project"]', '["input", 99]', "nope", '["raw", "x", "y"]',
                                  '"raw"', '[]'])
def test_value_endpoint_only_serves_step_values(logged_in, project, path):
    trace_id, ids = make_run(project)
    response = logged_in.get(f"{run_url(trace_id)}steps/{ids['llm']}/value/?path={quote(path)}")
    assert response.status_code == 404


def test_resolve_walks_lists_and_keys():
    class S:
        input = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert step_display.resolve(S, ["input", 0, "parts", 0, "content"]) == "hi"
    with pytest.raises(KeyError):
        step_display.resolve(S, ["input", True])


def test_hostile_parent_cycle_still_renders_every_step(logged_in, project):
    trace_id, a, b = new_trace_id(), new_span_id(), new_span_id()
    ingest(project, [span(trace_id, a, "a", parent=b), span(trace_id, b, "b", parent=a)])
    html = logged_in.get(run_url(trace_id)).content.decode()
    assert html.count('class="step k-') == 2


def test_other_projects_run_and_steps_are_404(client, alice, project):
    other = Project.objects.create(name="Other", slug="other")
    trace_id, ids = make_run(other)
    client.force_login(alice)
    assert client.get(run_url(trace_id)).status_code == 404
    assert client.get(f"{run_url(trace_id)}steps/{ids['llm']}/").status_code == 404
    assert client.get(f"/p/other/runs/{trace_id}/").status_code == 404
    mine, _ = make_run(project)  # a step id from another run is not a step of this run
    assert client.get(f"{run_url(mine)}steps/{ids['llm']}/").status_code == 404


def test_query_budgets(logged_in, project, django_assert_max_num_queries):
    trace_id, ids = make_run(project, session="s")
    with django_assert_max_num_queries(10):  # + the first step's pane, which comes with the page
        assert logged_in.get(run_url(trace_id)).status_code == 200
    for span_id in ids.values():
        with django_assert_max_num_queries(8):
            pane(logged_in, trace_id, span_id)


def test_two_thousand_step_run_opens_quickly(logged_in, project, django_assert_max_num_queries):
    trace_id, root = new_trace_id(), new_span_id()
    spans = [span(trace_id, root, "invoke_agent big", dur_ms=2_000_000, attrs={"gen_ai.agent.name": "big"})]
    head = root
    for i in range(1999):  # groups of ten: one step under the root, nine under it
        span_id, parent = new_span_id(), root if i % 10 == 0 else head
        head = span_id if i % 10 == 0 else head
        big_message = [{"role": "user", "parts": [{"type": "text", "content": "x" * 2000}]}]
        kind = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1000 + i, "gen_ai.usage.output_tokens": 50,
                "gen_ai.input.messages": json.dumps(big_message)} if i % 2 else {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t", "gen_ai.tool.call.result": "y" * 2000}
        spans.append(span(trace_id, span_id, f"step {i}", parent=parent, start_ms=i * 900, dur_ms=800, attrs=kind))
    ingest(project, spans)
    assert Run.objects.get(trace_id=trace_id).steps == 2000
    logged_in.get(run_url(trace_id))  # warm: plotly import, template cache
    started = time.perf_counter()
    with django_assert_max_num_queries(10):
        response = logged_in.get(run_url(trace_id))
    elapsed = time.perf_counter() - started
    html = response.content.decode()
    assert html.count('class="step k-') == explorer_views.TREE_CHUNK  # the page fetches the rest in order
    assert "x" * 2000 not in html  # content stays out of the page; the pane loads it on demand
    chunks, start, times = [], explorer_views.TREE_CHUNK, []
    while start:
        t = time.perf_counter()
        chunk = logged_in.get(f"{run_url(trace_id)}?rows={start}").content.decode()
        times.append(time.perf_counter() - t)
        chunks.append(chunk)
        found = re.search(r'\?rows=(\d+)"', chunk)
        start = int(found.group(1)) if found else 0
    rows = re.findall(r'<tr id="([0-9a-f]{16})"', html + "".join(chunks))
    assert len(rows) == len(set(rows)) == 2000
    print(f"\n2,000-step run page: {elapsed * 1000:.0f} ms server time for the page ({len(html) // 1024} KiB), "
          f"{sum(times) * 1000:.0f} ms for the other {len(times)} chunks")
    assert elapsed < 3.0  # generous: CI machines are shared; the printed figure is the measurement
