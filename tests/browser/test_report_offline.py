"""The HTML incident report, opened from disk with the network off, as a reviewer would."""
from datetime import datetime, timezone

import pytest

from tests.tracing.test_export_hostile_run import XSS_NAME, hostile_run, ingest
from tracing.models import Run
from tracing.report import render_report

pytestmark = pytest.mark.browser


@pytest.fixture
def report_file(project, tmp_path, django_capture_on_commit_callbacks):
    trace_id, body = hostile_run()
    ingest(project, body, django_capture_on_commit_callbacks)
    html, _ = render_report(Run.objects.get(trace_id=trace_id), project, exported_by="alice",
                            exported_at=datetime(2026, 5, 1, tzinfo=timezone.utc))
    path = tmp_path / f"run-{trace_id}-report.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_report_opens_offline_renders_every_step_and_runs_no_span_script(browser, report_file):
    context = browser.new_context(offline=True, java_script_enabled=True)
    requests, problems = [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else (requests.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda d: (problems.append(f"dialog {d.message}"), d.dismiss()))
    try:
        page.goto(report_file.as_uri())
        page.wait_for_load_state("load")
        assert page.locator("table.tree tr[data-span]").count() == 7
        assert page.locator("section.step").count() == 7
        assert page.locator("section.step.error").count() == 1
        # The payloads are on the page as text, and none of them ran.
        text = page.inner_text("body")
        assert XSS_NAME in text and "onerror=" in text and "evil.example" in text
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("document.scripts.length") == 0
        assert page.locator("img").count() == 0
        assert requests == [] and problems == []
        # Printable: the print stylesheet applies and nothing is clipped in a scroll box.
        page.emulate_media(media="print")
        assert page.evaluate("getComputedStyle(document.querySelector('pre')).maxHeight") == "none"
    finally:
        context.close()
