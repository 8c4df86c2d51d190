"""The diff page: pick two runs, see the first divergence, side-by-side rows and the totals delta."""
import pytest

from tests.diff_spend_builders import agent_run, minutes_ago, send  # noqa: F401 (send is a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_runs(send):
    """Same agent; B also calls `fetch` and answers differently. Returns (a, b) trace ids, a older."""
    a, spans_a = agent_run(tools=("search",), answer="It is sunny in Paris.", start_ms=minutes_ago(60))
    b, spans_b = agent_run(tools=("search", "fetch"), answer="It is rainy in Paris.", start_ms=minutes_ago(30))
    send(spans_a)
    send(spans_b)
    return a, b


def test_without_runs_it_offers_recent_runs_and_a_trace_id_field(client, alice, two_runs):
    client.force_login(alice)
    html = client.get("/p/acme/diff/").content.decode()
    assert 'name="a_id"' in html and 'name="b_id"' in html
    assert two_runs[0] in html and two_runs[1] in html
    assert "the previous run of A" in html


def test_first_divergence_rows_and_word_changes(client, alice, two_runs):
    a, b = two_runs
    client.force_login(alice)
    response = client.get("/p/acme/diff/", {"a": a, "b": b})
    assert response.status_code == 200
    html = response.content.decode()
    assert [r["op"] for r in response.context["rows"]] == ["same", "changed", "same", "added", "changed"]
    assert response.context["first_divergence"] == 1
    assert 'id="first-divergence"' in html and "at row 2 of 5" in html
    assert "Both made the LLM call “chat gpt-4o”, but its output differs." in html
    assert "<del>sunny </del><ins>rainy </ins>" in html  # word-level, on the final answer
    assert "$[0].parts[1]" in html  # the extra requested tool call, as a JSON path
    assert 'data-op="added"' in html and "not in A" in html


def test_identical_stretches_fold_into_details(client, alice, send):
    tools = ("search",) * 4
    a = agent_run(tools=tools, start_ms=minutes_ago(20))
    b = agent_run(tools=tools, start_ms=minutes_ago(10))
    send(a[1])
    send(b[1])
    client.force_login(alice)
    html = client.get("/p/acme/diff/", {"a": a[0], "b": b[0]}).content.decode()
    assert '<details class="same-stretch">' in html and "7 identical steps" in html
    assert "No divergence" in html


def test_previous_resolves_to_the_same_agents_earlier_run_as_baseline(client, alice, two_runs, send):
    a, b = two_runs
    send(agent_run(agent="other", start_ms=minutes_ago(45))[1])  # another agent, in between
    client.force_login(alice)
    response = client.get("/p/acme/diff/", {"a": b, "b": "previous"})
    assert response.status_code == 302 and response["Location"] == f"/p/acme/diff/?a={a}&b={b}"
    first = client.get("/p/acme/diff/", {"a": a, "b": "previous"})
    assert "first run of agent helper" in first.content.decode()


def test_a_selection_from_the_runs_list_puts_the_older_run_first(client, alice, two_runs):
    a, b = two_runs
    client.force_login(alice)
    response = client.get(f"/p/acme/diff/?run={b}&run={a}")
    assert response.status_code == 302 and response["Location"] == f"/p/acme/diff/?a={a}&b={b}"


def test_unknown_or_foreign_runs_are_reported_not_leaked(client, alice, two_runs, django_user_model, send):
    from tracing.models import ApiKey, Project

    other = Project.objects.create(name="Other", slug="other")
    _, key = ApiKey.issue(other)
    foreign, spans = agent_run()
    send(spans, key)
    client.force_login(alice)
    html = client.get("/p/acme/diff/", {"a": two_runs[0], "b": foreign}).content.decode()
    assert f"No run with trace id {foreign} in this project" in html and 'name="a_id"' in html
    assert client.get("/p/other/diff/", {"a": foreign, "b": foreign}).status_code == 404


def test_span_content_is_escaped(client, alice, send):
    a = agent_run(answer="fine", start_ms=minutes_ago(20))
    b = agent_run(answer="<script>alert(1)</script>", start_ms=minutes_ago(10))
    send(a[1])
    send(b[1])
    client.force_login(alice)
    html = client.get("/p/acme/diff/", {"a": a[0], "b": b[0]}).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_diff_page_query_budget(client, alice, two_runs, django_assert_max_num_queries):
    client.force_login(alice)
    with django_assert_max_num_queries(10):
        assert client.get("/p/acme/diff/", {"a": two_runs[0], "b": two_runs[1]}).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/p/acme/diff/").status_code == 200
