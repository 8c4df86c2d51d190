"""The runs list: columns, filters, sort, cursor paging, the live fragment, access and query budget."""
import re

import pytest

from dashboards import explorer_views
from tests.dashboards.explorer_data import fast_passwords, make_run, ms_ago  # noqa: F401 (autouse)
from tracing.models import Project, Run

URL = "/p/acme/runs/"


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def shown(response):
    """Trace ids of the rows on a runs page (or fragment), in order."""
    assert response.status_code == 200
    return re.findall(r'<tr id="run-([0-9a-f]{32})"', response.content.decode())


def test_row_shows_status_tokens_exact_cost_and_models(logged_in, project):
    trace_id, _ = make_run(project, input_tokens=1200, output_tokens=80, cached=1024, reasoning_tokens=30)
    html = logged_in.get(URL).content.decode()
    row = html[html.index(f'id="run-{trace_id}"'):]
    row = row[: row.index("</tr>")]
    for text in ("ok", "1,200", "1,024", "80", "30", "gpt-4o", "helper"):
        assert text in row
    run = Run.objects.get(trace_id=trace_id)
    assert run.cost_usd > 0
    assert "$0.00" in row and "genai-prices" in row  # exact dollars, with a title saying how it was computed


def test_unknown_model_is_unpriced_never_zero(logged_in, project):
    trace_id, _ = make_run(project, model="llama-local-9000", provider="ollama")
    html = logged_in.get(URL).content.decode()
    row = html[html.index(f'id="run-{trace_id}"'):]
    row = row[: row.index("</tr>")]
    assert "unpriced" in row and "$0<" not in row


@pytest.mark.parametrize("query, expected", [
    ("agent=planner", {"b"}),
    ("status=error", {"c"}),
    ("status=in_progress", {"d"}),
    ("model=claude-sonnet-4-5", {"b"}),
    ("provider=anthropic", {"b"}),
    ("session=s-1", {"a", "b"}),
    ("user=ana", {"a"}),
    ("tag=prod", {"a", "c"}),
    ("min_cost=0.001", {"a", "c"}),
    ("range=1h", {"a", "b"}),
])
def test_filters(logged_in, project, query, expected):
    runs = {
        "a": make_run(project, session="s-1", user="ana", tags=["prod"], start_ms=ms_ago(60), input_tokens=5000),
        "b": make_run(project, agent="planner", model="claude-sonnet-4-5", provider="anthropic", session="s-1",
                      start_ms=ms_ago(120), input_tokens=10, output_tokens=1),
        "c": make_run(project, error=True, tags=["prod", "x"], start_ms=ms_ago(7200), input_tokens=4000),
        "d": make_run(project, with_root=False, model="mystery-model", provider="acme", start_ms=ms_ago(9000)),
    }
    names = {trace_id: name for name, (trace_id, _) in runs.items()}
    assert {names[t] for t in shown(logged_in.get(f"{URL}?{query}"))} == expected


def test_custom_time_range_since_until(logged_in, project):
    old, _ = make_run(project, start_ms=0)  # T0 = 2025-10-09 08:53 UTC
    make_run(project, start_ms=ms_ago(10))
    response = logged_in.get(f"{URL}?range=custom&since=2025-10-09T08:00&until=2025-10-09T10:00")
    assert shown(response) == [old]


def test_sort_by_cost_puts_unpriced_last_either_way(logged_in, project):
    cheap, _ = make_run(project, input_tokens=10, output_tokens=1)
    dear, _ = make_run(project, input_tokens=100_000, output_tokens=1)
    unpriced, _ = make_run(project, model="nobody-knows", provider="acme")
    assert shown(logged_in.get(f"{URL}?sort=-cost")) == [dear, cheap, unpriced]
    assert shown(logged_in.get(f"{URL}?sort=cost")) == [cheap, dear, unpriced]


@pytest.mark.parametrize("sort", ["-started", "started", "-cost", "cost", "-duration", "-input", "errors"])
def test_cursor_paging_visits_every_run_once(logged_in, project, monkeypatch, sort):
    monkeypatch.setattr(explorer_views, "PAGE_SIZE", 3)
    expected = set()
    for i in range(8):  # ties on tokens and cost, some unpriced, one without an end (null duration)
        model = "nobody-knows" if i % 3 == 0 else "gpt-4o"
        trace_id, _ = make_run(project, model=model, input_tokens=100 * (i % 2), start_ms=i * 1000, with_root=i != 5)
        expected.add(trace_id)
    seen, url = [], f"{URL}?sort={sort}"
    for _ in range(5):
        response = logged_in.get(url)
        seen += shown(response)
        cursor = response.context["next_cursor"]
        if not cursor:
            break
        url = f"{URL}?sort={sort}&cursor={cursor}"
    assert len(seen) == len(set(seen)) == 8 and set(seen) == expected


def test_tampered_cursor_is_a_message_not_an_error(logged_in, project):
    make_run(project)
    response = logged_in.get(f"{URL}?cursor=bm9wZQ")
    assert response.status_code == 200 and "no longer valid" in response.content.decode()


def test_invalid_filter_value_is_reported(logged_in, project):
    response = logged_in.get(f"{URL}?min_cost=lots&status=exploded")
    html = response.content.decode()
    assert response.status_code == 200 and "form-errors" in html


def test_the_url_is_the_view(logged_in, project):
    """Sort links keep the filters; the next-page link keeps filters and sort."""
    for i in range(3):
        make_run(project, agent="planner", start_ms=i)
    response = logged_in.get(f"{URL}?agent=planner&sort=-cost")
    html = response.content.decode()
    assert 'href="?agent=planner&amp;sort=cost"' in html  # the cost header flips direction, keeps the filter


def test_live_refresh_is_the_same_row_partial(logged_in, project):
    trace_id, _ = make_run(project)
    page = logged_in.get(URL).content.decode()
    assert 'hx-get="/p/acme/runs/"' in page and 'hx-trigger="every 5s"' in page
    fragment = logged_in.get(URL, HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert shown(fragment) == [trace_id]
    assert "<html" not in body and "<thead" not in body
    row = re.search(r'<tr id="run-.*?</tr>', body, re.S).group(0)
    assert row in page  # byte for byte what the page rendered


def test_later_pages_do_not_poll(logged_in, project, monkeypatch):
    monkeypatch.setattr(explorer_views, "PAGE_SIZE", 1)
    make_run(project)
    make_run(project)
    first = logged_in.get(URL)
    second = logged_in.get(f"{URL}?cursor={first.context['next_cursor']}").content.decode()
    assert "hx-trigger" not in second and "Newest" in second


def test_compare_control_points_at_the_diff_page(logged_in, project):
    make_run(project)
    html = logged_in.get(URL).content.decode()
    assert 'data-diff-url="/p/acme/diff/"' in html and 'class="pick-run"' in html


def test_hostile_values_are_escaped(logged_in, project):
    make_run(project, agent="<script>alert(1)</script>", user="<img src=x onerror=alert(1)>",
             session="s\"><svg onload=alert(1)>", tags=["{{ 7|add:1 }}"])
    html = logged_in.get(URL).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "{{ 7|add:1 }}" in html
    assert "?id=s%22%3E%3Csvg%20onload%3Dalert%281%29%3E" in html  # the session link's id, fully encoded


def test_query_budget(logged_in, project, django_assert_max_num_queries):
    for i in range(30):
        make_run(project, session=f"s-{i}", tags=["t"], start_ms=i)
    with django_assert_max_num_queries(9):
        assert len(shown(logged_in.get(f"{URL}?q=weather&model=gpt-4o&provider=openai&tag=t"))) == 30
    with django_assert_max_num_queries(7):
        logged_in.get(URL, HTTP_HX_REQUEST="true")


def test_other_projects_runs_are_invisible(client, alice, project, django_user_model):
    other = Project.objects.create(name="Other", slug="other")
    theirs, _ = make_run(other, question="secret plans")
    client.force_login(alice)
    assert client.get("/p/other/runs/").status_code == 404
    assert shown(client.get(f"{URL}?q=secret")) == []


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]
