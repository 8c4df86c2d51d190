"""GET /api/v1/diff: the aligned step diff as JSON, with the public field names."""
import pytest

from tests.diff_spend_builders import agent_run, minutes_ago, send  # noqa: F401 (send is a fixture)

pytestmark = pytest.mark.django_db

PUBLIC_STEP_FIELDS = {
    "trace_id", "span_id", "parent_span_id", "kind", "name", "status", "started_at", "ended_at", "duration_ms",
    "model", "provider", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_usd", "tool_name", "tool_arguments", "tool_result", "input", "output", "reasoning",
    "error", "attributes",
}


@pytest.fixture
def two_runs(send):
    a, spans_a = agent_run(tools=("search",), start_ms=minutes_ago(60))
    b, spans_b = agent_run(tools=("search",), tool_error="search backend down", start_ms=minutes_ago(30))
    send(spans_a)
    send(spans_b)
    return a, b


def get(client, key, **params):
    return client.get("/api/v1/diff", params, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_diff_json_has_rows_divergence_and_totals(client, api_key, two_runs):
    a, b = two_runs
    response = get(client, api_key, a=a, b=b)
    assert response.status_code == 200
    data = response.json()
    assert data["a"]["trace_id"] == a and data["b"]["trace_id"] == b
    assert [r["op"] for r in data["rows"]] == ["same", "same", "changed", "same"]
    assert data["first_divergence"] == 2
    assert "status" in data["first_divergence_summary"]
    changed = data["rows"][2]
    assert {c["field"] for c in changed["changes"]} >= {"status", "error"}
    assert changed["b"]["error"] == "search backend down"
    llm = data["rows"][1]["a"]
    assert PUBLIC_STEP_FIELDS <= set(llm)
    assert llm["cost_usd"] == "0.0035000000" and llm["kind"] == "llm"
    assert data["totals"]["errors"] == {"a": 0, "b": 1, "delta": 1}
    assert data["totals"]["cost_usd"] == {"a": "0.0070000000", "b": "0.0070000000", "delta": "0.0000000000"}


def test_previous_works_in_the_api_too(client, api_key, two_runs):
    data = get(client, api_key, a=two_runs[1], b="previous").json()
    assert (data["a"]["trace_id"], data["b"]["trace_id"]) == two_runs


def test_errors(client, api_key, two_runs):
    assert client.get("/api/v1/diff", {"a": two_runs[0], "b": two_runs[1]}).status_code == 401
    assert get(client, api_key, a=two_runs[0]).status_code == 400
    missing = get(client, api_key, a=two_runs[0], b="0" * 32)
    assert missing.status_code == 404 and "No run with trace id" in missing.json()["error"]


def test_another_projects_key_cannot_diff_these_runs(client, two_runs):
    from tracing.models import ApiKey, Project

    _, other_key = ApiKey.issue(Project.objects.create(name="Other", slug="other"))
    assert get(client, other_key, a=two_runs[0], b=two_runs[1]).status_code == 404


def test_span_numbers_beyond_64_bits_still_encode(api_key, client, send):
    import json

    from tests.otlp_builders import new_span_id, span

    trace_id, spans = agent_run(tools=())
    spans.append(span(trace_id, new_span_id(), "execute_tool calc", parent=spans[-1].span_id.hex(), attrs={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "calc",
        "gen_ai.tool.call.result": json.dumps({"n": 2**80})}))
    send(spans)
    other, other_spans = agent_run(tools=())
    send(other_spans)
    response = get(client, api_key, a=trace_id, b=other)
    assert response.status_code == 200
    removed = [r for r in response.json()["rows"] if r["op"] == "removed"]
    assert removed[0]["a"]["tool_result"]["n"] > 2**64  # (exact on SQLite; PostgreSQL's jsonb may round it)
