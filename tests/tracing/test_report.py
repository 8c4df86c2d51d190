"""tracing.report: a self-contained, escaped, printable incident report."""
import re
from datetime import datetime, timezone

import pytest

from tests.tracing.test_export_hostile_run import REASONING, XSS_ARG, XSS_NAME, XSS_RESULT, hostile_run, ingest
from tracing import export
from tracing.models import Run
from tracing.report import render_report

NOW = datetime(2026, 5, 1, 12, 30, 15, tzinfo=timezone.utc)


@pytest.fixture
def report(project, django_capture_on_commit_callbacks):
    trace_id, body = hostile_run()
    ingest(project, body, django_capture_on_commit_callbacks)
    run = Run.objects.get(trace_id=trace_id)
    html, digest = render_report(run, project, exported_by="alice", exported_at=NOW)
    return run, html, digest


def test_no_script_no_external_asset_and_a_csp_that_forbids_both(report):
    _, html, _ = report
    assert "<script" not in html.lower()
    assert re.search(r"""<meta http-equiv="Content-Security-Policy" content="default-src 'none'; """
                     r"""style-src 'unsafe-inline'; img-src data:">""", html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)  # nothing to fetch, no outbound link
    assert "<link" not in html and "@import" not in html


def test_every_span_value_is_escaped(report):
    _, html, _ = report
    for payload in (XSS_NAME, XSS_ARG, "alert(1)</script>"):
        assert payload not in html
    assert "&lt;script&gt;window.__pwned = &quot;name&quot;&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    assert "evil.example" in html and 'href="https://evil.example' not in html  # shown as text only
    assert XSS_RESULT not in html


def test_shows_header_totals_tree_details_costs_and_provenance(report):
    run, html, digest = report
    assert run.trace_id in html and "travel-bot" in html and "conv-7" in html and "incident, prod" in html
    assert html.count('data-span="') == 7  # the step tree
    assert html.count('class="step') == 7  # one detail card per step
    assert REASONING.replace("<b>", "&lt;b&gt;").replace("</b>", "&lt;/b&gt;") in html
    assert html.count("The user wants weather") == 1  # reasoning once, not again inside the output
    assert "calls get_weather · call_1" in html and "TP 571" in html  # tool call and tool result
    assert "TimeoutError" in html and "weather API timed out" in html and "Traceback (most recent call last)" in html
    assert "claude-sonnet-4-5" in html and "cache read" in html  # cost breakdown by model and part
    assert "Exported 2026-05-01 12:30:15 UTC by <b>alice</b>" in html
    assert digest == export.sha256(export.run_otlp_json(export.run_steps(run))) and digest in html
    assert "@media print" in html


def test_long_values_are_cut_with_a_pointer_to_the_full_export(project, django_capture_on_commit_callbacks, settings):
    import json

    from tests.otlp_builders import new_span_id, new_trace_id, request, span

    trace_id = new_trace_id()
    big = span(trace_id, new_span_id(), "execute_tool dump", attrs={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "dump",
        "gen_ai.tool.call.result": json.dumps({"blob": "x" * 150_000})})
    ingest(project, request([big]), django_capture_on_commit_callbacks)
    html, _ = render_report(Run.objects.get(trace_id=trace_id), project, exported_by="a", exported_at=NOW)
    assert "more characters, in the OTLP/JSON export" in html
    assert len(html) < 140_000
