"""Full-text search behind the runs list `q` (tracing/search.py): what is indexed, how a query
matches, and that the index follows every write — on SQLite (FTS5) and PostgreSQL (GIN)."""
import pytest
from django.db import connection

from tests.dashboards.explorer_data import ingest, make_run, run_spans
from tracing import runs as run_queries
from tracing import search
from tracing.models import Project, Step


def found(project, q):
    return set(run_queries.filter_runs(project, run_queries.RunFilter(q=q)).values_list("trace_id", flat=True))


def test_document_holds_content_words_only():
    class S:
        name, tool_name, error_message, reasoning = "chat gpt-4o", "get_weather", "", "Think: Paris?"
        tool_arguments, tool_result, tool_calls = {"city": "Paris"}, "Sunny, 21°C", []
        input = [{"role": "user", "parts": [{"type": "text", "content": "Weather in PARIS, please!"}]}]
        output = None
    doc = search.document(S)
    assert doc == "chat gpt 4o get weather think paris city paris sunny 21 c weather in paris please"
    assert "user" not in doc.split() and "text" not in doc.split()  # message structure is not content


def test_document_is_capped():
    class S:
        name = tool_name = error_message = reasoning = ""
        tool_arguments = tool_calls = input = output = None
        tool_result = "word " * 100_000
    assert len(search.document(S)) <= search.MAX_DOCUMENT_CHARS


@pytest.mark.parametrize("q, hit", [
    ("lisbon", True), ("LISBON", True), ("lis", True), ("forecast drizzle", True), ("drizzle paris", False),
    ("get_weather", True), ("\"lisbon*\" (", True), ("city", True), ("zzz", False), ("-- ' ; DROP", False), ("", True),
])
def test_query_semantics(project, q, hit):
    trace_id, _ = make_run(project, tool_args={"city": "Lisbon"}, tool_result={"forecast": "drizzle"},
                           question="weather in Lisbon?")
    assert (trace_id in found(project, q)) is hit


def test_searches_outputs_reasoning_arguments_and_results(project):
    a, _ = make_run(project, answer="The capybara is calm.")
    b, _ = make_run(project, reasoning="Consider the narwhal.")
    c, _ = make_run(project, tool_args={"animal": "okapi"})
    d, _ = make_run(project, tool_result="a quokka smiled")
    assert [found(project, w) for w in ("capybara", "narwhal", "okapi", "quokka")] == [{a}, {b}, {c}, {d}]


def test_index_follows_upserts_and_deletes(project):
    trace_id, spans, ids = run_spans(tool_result="first answer: walrus")
    ingest(project, spans)
    assert found(project, "walrus") == {trace_id}
    for s in spans:  # the same span re-sent with a later end and new content replaces the stored copy
        if s.span_id.hex() == ids["tool"]:
            s.end_time_unix_nano += 1_000_000
            for attr in s.attributes:
                if attr.key == "gen_ai.tool.call.result":
                    attr.value.string_value = "second answer: pelican"
    ingest(project, spans)
    assert found(project, "walrus") == set() and found(project, "pelican") == {trace_id}
    Step.objects.filter(trace_id=trace_id).delete()  # retention deletes steps: the index forgets them
    assert found(project, "pelican") == set()


def test_other_projects_content_never_matches(project):
    other = Project.objects.create(name="Other", slug="other")
    make_run(other, question="the secret walrus")
    assert found(project, "walrus") == set()


def test_index_structures_exist(db):
    """A migration that rebuilds tracing_step (SQLite does so for many ALTERs) drops its triggers;
    this fails until the triggers are recreated."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'step_search_gin'")
            assert "gin" in cursor.fetchone()[0]
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tracing_step'")
            assert {r[0] for r in cursor.fetchall()} >= {"tracing_step_fts_ai", "tracing_step_fts_ad",
                                                          "tracing_step_fts_au"}
