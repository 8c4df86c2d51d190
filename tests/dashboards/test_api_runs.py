"""GET /api/v1/runs and GET /api/v1/runs/<trace_id>: field names, filters, paging, auth, scoping."""
import pytest
from django.utils import timezone

from tests.dashboards.explorer_data import fast_passwords, make_run, ms_ago  # noqa: F401 (autouse)
from tracing.models import ApiKey, Project, Run

RUN_FIELDS = {"trace_id", "name", "agent", "status", "started_at", "ended_at", "duration_ms", "steps", "llm_calls",
              "tool_calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
              "reasoning_tokens", "cost_usd", "session_id", "user_id", "tags"}
STEP_FIELDS = {"trace_id", "span_id", "parent_span_id", "kind", "name", "status", "started_at", "ended_at",
               "duration_ms", "model", "provider", "input_tokens", "output_tokens", "cache_read_tokens",
               "cache_write_tokens", "reasoning_tokens", "cost_usd", "tool_name", "tool_arguments", "tool_result",
               "input", "output", "reasoning", "error", "attributes"}


@pytest.fixture
def api(client, api_key):
    def get(path, **params):
        return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return get


def test_run_list_fields_and_values(api, project):
    trace_id, _ = make_run(project, session="conv-1", user="ana", tags=["prod"], input_tokens=1200, cached=1024)
    response = api("/api/v1/runs")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["next_cursor"] is None
    run = body["runs"][0]
    assert RUN_FIELDS <= set(run)
    stored = Run.objects.get(trace_id=trace_id)
    assert run["trace_id"] == trace_id and run["agent"] == "helper" and run["status"] == "ok"
    assert (run["steps"], run["llm_calls"], run["tool_calls"], run["errors"]) == (3, 1, 1, 0)
    assert (run["input_tokens"], run["cache_read_tokens"]) == (1200, 1024)
    assert run["cost_usd"] == f"{stored.cost_usd.normalize():f}"  # exact decimal string, never a float
    assert (run["session_id"], run["user_id"], run["tags"], run["models"]) == ("conv-1", "ana", ["prod"], ["gpt-4o"])


def test_unpriced_cost_is_null(api, project):
    make_run(project, model="nobody-knows", provider="acme")
    run = api("/api/v1/runs").json()["runs"][0]
    assert run["cost_usd"] is None and run["unpriced_calls"] == 1


@pytest.mark.parametrize("params, expected", [
    ({"agent": "planner"}, {"b"}),
    ({"status": "error"}, {"c"}),
    ({"model": "claude-sonnet-4-5"}, {"b"}),
    ({"q": "lisbon"}, {"c"}),
    ({"session": "s-1"}, {"a", "b"}),
    ({"user": "ana"}, {"a"}),
    ({"tag": "prod"}, {"a", "c"}),
    ({"min_cost": "0.001"}, {"a", "c"}),
    ({"since": "SINCE"}, {"a", "b"}),
    ({"until": "SINCE"}, {"c"}),
])
def test_filters(api, project, params, expected):
    runs = {
        "a": make_run(project, session="s-1", user="ana", tags=["prod"], start_ms=ms_ago(60), input_tokens=5000),
        "b": make_run(project, agent="planner", model="claude-sonnet-4-5", provider="anthropic", session="s-1",
                      start_ms=ms_ago(120), input_tokens=10, output_tokens=1),
        "c": make_run(project, error=True, tags=["prod"], start_ms=ms_ago(7200), input_tokens=4000,
                      tool_args={"city": "Lisbon"}),
    }
    names = {trace_id: name for name, (trace_id, _) in runs.items()}
    since = (timezone.now() - timezone.timedelta(hours=1)).isoformat()
    params = {k: since if v == "SINCE" else v for k, v in params.items()}
    assert {names[r["trace_id"]] for r in api("/api/v1/runs", **params).json()["runs"]} == expected


def test_cursor_paging(api, project):
    made = {make_run(project, start_ms=i * 1000)[0] for i in range(5)}
    seen, cursor = [], None
    while True:
        body = api("/api/v1/runs", limit=2, sort="-cost", **({"cursor": cursor} if cursor else {})).json()
        seen += [r["trace_id"] for r in body["runs"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and set(seen) == made


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"min_cost": "x"}, {"limit": "100000"},
                                    {"status": "exploded"}, {"since": "yesterday-ish"}])
def test_bad_parameters_are_400(api, project, params):
    response = api("/api/v1/runs", **params)
    assert response.status_code == 400 and "error" in response.json()


def test_run_detail_has_every_step_in_tree_order(api, project):
    trace_id, ids = make_run(project, tool_args={"city": "Oslo"}, tool_result={"forecast": "snow"}, error=True,
                             reasoning="think first")
    body = api(f"/api/v1/runs/{trace_id}").json()
    assert RUN_FIELDS <= set(body["run"])
    steps = body["steps"]
    assert [s["span_id"] for s in steps] == [ids["root"], ids["llm"], ids["tool"]]
    assert [s["parent_span_id"] for s in steps] == [None, ids["root"], ids["root"]]
    for step in steps:
        assert STEP_FIELDS <= set(step)
    llm, tool = steps[1], steps[2]
    assert llm["kind"] == "llm" and llm["model"] == "gpt-4o" and llm["provider"] == "openai"
    assert llm["reasoning"] == "think first" and llm["input"][0]["role"] == "user"
    assert llm["cost_usd"] is not None and isinstance(llm["cost_usd"], str)
    assert (tool["kind"], tool["tool_name"], tool["tool_arguments"], tool["tool_result"]) == (
        "tool", "get_weather", {"city": "Oslo"}, {"forecast": "snow"})
    assert tool["status"] == "error" and tool["error"]["message"] == "tool failed"
    assert steps[0]["status"] == "error" and llm["error"] is None
    assert tool["duration_ms"] == 50.0 and tool["started_at"].endswith("+00:00")


def test_unknown_and_other_projects_runs_are_404(api, project):
    other = Project.objects.create(name="Other", slug="other")
    theirs, _ = make_run(other)
    assert api(f"/api/v1/runs/{theirs}").status_code == 404
    assert api("/api/v1/runs/" + "0" * 32).status_code == 404
    assert theirs not in {r["trace_id"] for r in api("/api/v1/runs").json()["runs"]}


def test_keys_and_sessions(client, project, alice):
    trace_id, _ = make_run(project)
    _, ingest_only = ApiKey.issue(project, scopes=[ApiKey.INGEST])
    revoked, revoked_raw = ApiKey.issue(project)
    revoked.revoked_at = timezone.now()
    revoked.save()
    _, read_only = ApiKey.issue(project, scopes=[ApiKey.READ])
    assert client.get("/api/v1/runs").status_code == 401
    assert client.get("/api/v1/runs", HTTP_AUTHORIZATION=f"Bearer {ingest_only}").status_code == 403
    assert client.get("/api/v1/runs", HTTP_AUTHORIZATION=f"Bearer {revoked_raw}").status_code == 401
    assert client.get(f"/api/v1/runs/{trace_id}", HTTP_X_API_KEY=read_only).status_code == 200
    client.force_login(alice)  # a logged-in member reads without a key
    assert client.get("/api/v1/runs").json()["runs"][0]["trace_id"] == trace_id
    assert client.post("/api/v1/runs").status_code == 405
