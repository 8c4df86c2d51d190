"""Full-text search behind the runs list `q` (tracing/search.py): what is indexed, how a query
matches, and that the index follows every write — on SQLite (FTS5) and PostgreSQL (GIN)."""
import re

import pytest
from django.db import connection
from hypothesis import example, given
from hypothesis import strategies as st

from tests.dashboards.explorer_data import ingest, make_run, run_spans
from tests.otlp_builders import new_span_id
from datetime import timedelta

from django.utils import timezone

from tracing import runs as run_queries
from tracing import search
from tracing import retention
from tracing.models import Project, SearchDocument, Step


def found(project, q):
    return set(run_queries.filter_runs(project, run_queries.RunFilter(q=q)).values_list("trace_id", flat=True))


def test_step_words_are_content_words_only():
    class S:
        name, tool_name, error_message, reasoning = "chat gpt-4o", "get_weather", "", "Think: Paris?"
        tool_arguments, tool_result, tool_calls = {"city": "Paris"}, "Sunny, 21°C", []
        input = [{"role": "user", "parts": [{"type": "text", "content": "Weather in PARIS, please!"}]}]
        output = None
    words = search.step_words(S)
    assert words == {"chat", "gpt", "4o", "get", "weather", "think", "paris", "city", "sunny", "21", "c", "in",
                     "please"}
    assert "user" not in words and "text" not in words  # message structure is not content


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_split_words_equals_the_word_regex(text):
    """The fast split (ASCII punctuation in one C pass, then a regex only for leftovers) finds exactly
    the words the plain regex finds."""
    expected = {w for w in re.findall(r"[^\W_]+", text.lower()) if len(w) <= search.MAX_WORD_CHARS}
    assert search.split_words(text) == expected


class _Step:
    name = tool_name = error_message = reasoning = ""
    tool_arguments = tool_calls = output = tool_result = None

    def __init__(self, **fields):
        self.__dict__.update(fields)


# Non-ASCII punctuation ("«", "—") takes split_words' second pass; "x" runs make words over MAX_WORD_CHARS.
_conversation = st.lists(st.one_of(st.text(alphabet="ab cd,é.1_«—", max_size=30),
                                   st.builds(lambda n, w: "x" * n + w, st.integers(95, 105), st.text("ab «", max_size=3))),
                         min_size=1, max_size=6)


@given(st.lists(st.tuples(_conversation, st.integers(0, 2)), min_size=1, max_size=6),
       st.sampled_from([40, search.MAX_STEP_CHARS]))
@example([(["aaaa bbbb cccc dddd eeee fffff", "ggg hhhh"], 0), (["z"], 1)], 40)  # "hhhh" cut, then re-sent
@example([(["a" * 30], 0), (["a" * 30, "zebra quux"], 1)], 40)  # seen text still counts toward the limit
def test_skipping_strings_the_run_already_split_gives_the_same_words(steps, limit):
    """Steps of one run re-send earlier messages: step_words with the run's `seen` strings skips them,
    and the run's words equal the union of each step's words, also when steps are cut at the limit;
    and so do the words of the steps' texts joined, as the indexer splits a run's texts at once."""
    history, expected, got, seen, run_words = [], set(), set(), set(), search.RunWords()
    original = search.MAX_STEP_CHARS
    search.MAX_STEP_CHARS = limit
    try:
        for texts, n_earlier in steps:
            messages = history[-n_earlier:] if n_earlier else []
            messages += [{"role": "user", "parts": [{"type": "text", "content": t}]} for t in texts]
            step = _Step(input=messages, tool_arguments={"n": len(history)})
            expected |= search.step_words(step)
            got |= search.step_words(step, seen)
            run_words.add("run", step)
            history += messages
    finally:
        search.MAX_STEP_CHARS = original
    assert got == expected
    assert run_words.words() == {"run": expected}


def test_a_run_resending_its_conversation_is_split_once():
    first = _Step(input=[{"role": "user", "parts": [{"type": "text", "content": "plan the trip to Oslo"}]}])
    second = _Step(input=first.input + [{"role": "user", "parts": [{"type": "text", "content": "and Bergen"}]}])
    seen = set()
    assert search.step_words(first, seen) == {"plan", "the", "trip", "to", "oslo"}
    assert search.step_words(second, seen) == {"and", "bergen"}  # the first message was split already
    assert search.step_words(second) == {"plan", "the", "trip", "to", "oslo", "and", "bergen"}


def test_documents_are_capped():
    class S:
        name = tool_name = error_message = reasoning = ""
        tool_arguments = tool_calls = input = output = None
        tool_result = " ".join(f"w{i}" for i in range(200_000)) + " " + "x" * 500
    words = search.step_words(S)
    assert "x" * 500 not in words  # base64 and hashes are not words anyone types
    assert sum(len(w) + 1 for w in words) <= search.MAX_STEP_CHARS + 1
    doc = search.document({f"word{i:07d}" for i in range(100_000)})
    assert len(doc) <= search.MAX_DOCUMENT_CHARS and not doc.endswith(" ") and "word0000000" in doc


def test_a_document_of_cjk_words_fits_a_tsvector(project):
    """500,000 characters of CJK words are 1.5 MB: capped by bytes too, the document is stored
    (PostgreSQL refused more than 1 MB, and the batch failed at every retry)."""
    words = {"".join(chr(0x4E00 + n) for n in (i % 20_000, i // 20_000, i * 7 % 20_000, i * 13 % 20_000))
             for i in range(120_000)}  # 4 characters, 12 bytes each
    doc = search.document(words)
    assert sum(len(w.encode()) + 4 for w in doc.split()) <= search.MAX_DOCUMENT_BYTES
    assert len(doc.split()) > 50_000 and set(doc.split()) <= words
    SearchDocument.objects.create(project=project, trace_id="0" * 32, words=doc)
    assert search.document(sorted(words)[:10]) == " ".join(sorted(words)[:10])


@pytest.mark.parametrize("q, hit", [
    ("lisbon", True), ("LISBON", True), ("lis", True), ("forecast drizzle", True), ("drizzle walrus", False),
    ("get_weather", True), ("\"lisbon*\" (", True), ("city", True), ("zzz", False), ("-- ' ; DROP", False), ("", True),
    ("lisbon drizzle", True),  # words of different steps (the question, a tool result): the run holds both
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
    assert found(project, "answer") == {trace_id}
    project.retention_days = 1  # retention deletes the run: the index forgets it
    project.save()
    retention.purge_project(project, timezone.now() + timedelta(days=30))
    assert not Step.objects.filter(trace_id=trace_id).exists() and found(project, "pelican") == set()


def test_a_stale_copy_in_a_later_batch_adds_none_of_its_words(project):
    """A batch holding an older copy of a stored span (a retry that arrived late) next to a new
    span of the same run: the new span's words count, the stale copy's do not."""
    trace_id, spans, ids = run_spans(tool_result="first answer: walrus")
    tool = next(s for s in spans if s.span_id.hex() == ids["tool"])
    newer = type(tool)()
    newer.CopyFrom(tool)
    newer.end_time_unix_nano += 1_000_000
    for attr in newer.attributes:
        if attr.key == "gen_ai.tool.call.result":
            attr.value.string_value = "second answer: pelican"
    ingest(project, [s for s in spans if s is not tool] + [newer])
    extra = type(tool)()
    extra.CopyFrom(newer)
    extra.span_id = bytes.fromhex(new_span_id())
    for attr in extra.attributes:
        if attr.key == "gen_ai.tool.call.result":
            attr.value.string_value = "third answer: heron"
    ingest(project, [tool, extra])  # the stale walrus copy and a new heron step
    assert found(project, "heron") == {trace_id} and found(project, "pelican") == {trace_id}
    assert found(project, "walrus") == set()


def test_runs_indexed_over_several_batches_match_words_from_each(project):
    """A run whose steps arrive in separate requests (separate transactions) holds several
    documents; a query needs each of its words in one of them, not all in the same."""
    trace_id, spans, ids = run_spans(question="tell me about the axolotl", tool_result="the ocelot sleeps")
    for span in spans:
        ingest(project, [span])
    assert found(project, "axolotl ocelot") == {trace_id}
    assert found(project, "axolotl walrus") == set()
    assert 1 < SearchDocument.objects.filter(trace_id=trace_id).count() <= len(spans)


def test_a_later_batch_stores_only_the_words_the_run_does_not_hold(project):
    """Each word of a document is an index entry: a run's later documents leave out the words its
    earlier ones hold (an agent's calls re-send the conversation), and every word still matches."""
    trace_id, spans, ids = run_spans(question="tell me about the axolotl", tool_result="the ocelot sleeps")
    for span in spans:
        ingest(project, [span])
    ingest(project, [span for span in spans if span.span_id.hex() == ids["tool"]])  # re-sent: replaced, rebuilt
    extra = type(spans[0])()
    extra.CopyFrom(next(s for s in spans if s.span_id.hex() == ids["tool"]))
    extra.span_id = bytes.fromhex(new_span_id())
    for attr in extra.attributes:
        if attr.key == "gen_ai.tool.call.result":
            attr.value.string_value = "the ocelot sleeps and the heron fishes"
    ingest(project, [extra])
    documents = [held for _, held in search.stored_words(project.id, [trace_id])]
    assert documents[-1] == {"and", "heron", "fishes"}  # "the", "ocelot", "sleeps": held already
    assert sum(len(d) for d in documents) == len(set().union(*documents))  # no word stored twice
    assert found(project, "axolotl ocelot heron") == {trace_id}


def test_a_run_of_many_batches_is_checked_against_its_latest_documents_and_every_word_matches(project):
    """A run streaming in has a document per batch; a new one leaves out the words of the run's
    latest LATEST_DOCUMENTS only (reading them all made each batch cost more as the run grew)."""
    from tracing.indexer import LATEST_DOCUMENTS

    trace_id, spans, ids = run_spans(question="tell me about the axolotl", tool_result="first")
    tool = next(s for s in spans if s.span_id.hex() == ids["tool"])
    ingest(project, spans)

    def tool_call(result):
        extra = type(tool)()
        extra.CopyFrom(tool)
        extra.span_id = bytes.fromhex(new_span_id())
        for attr in extra.attributes:
            if attr.key == "gen_ai.tool.call.result":
                attr.value.string_value = result
        ingest(project, [extra])

    first = list(search.stored_words(project.id, [trace_id]))[0][1]
    assert {"axolotl", "paris"} <= first  # the question, the tool's arguments
    for i in range(LATEST_DOCUMENTS - 1):
        tool_call(f"batch{i} walrus")
    assert list(search.stored_words(project.id, [trace_id]))[-1][1] == {f"batch{LATEST_DOCUMENTS - 2}"}
    tool_call("batch7 walrus axolotl paris")  # the first document is among the latest 8 still
    assert list(search.stored_words(project.id, [trace_id]))[-1][1] == {"batch7"}
    tool_call("batch8 walrus axolotl paris")  # now it is not: its words are stored again
    latest = list(search.stored_words(project.id, [trace_id]))[-1][1]
    assert {"batch8", "axolotl", "paris"} <= latest and "walrus" not in latest
    assert len(list(search.stored_words(project.id, [trace_id], latest=LATEST_DOCUMENTS))) == LATEST_DOCUMENTS
    assert found(project, "axolotl walrus batch0 batch8") == {trace_id}


def test_other_projects_content_never_matches(project):
    other = Project.objects.create(name="Other", slug="other")
    make_run(other, question="the secret walrus")
    assert found(project, "walrus") == set()


def test_index_structures_exist(db):
    """A migration that rebuilds tracing_searchdocument (SQLite does so for many ALTERs) drops its
    triggers; this fails until the triggers are recreated."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'search_doc_gin'")
            assert "gin (words)" in cursor.fetchone()[0]
            cursor.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                           " WHERE attrelid = 'tracing_searchdocument'::regclass AND attname = 'words'")
            assert cursor.fetchone()[0] == "tsvector"
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tracing_searchdocument'")
            assert {r[0] for r in cursor.fetchall()} == {f"{search.FTS_TABLE}_ai", f"{search.FTS_TABLE}_ad",
                                                         f"{search.FTS_TABLE}_au"}
