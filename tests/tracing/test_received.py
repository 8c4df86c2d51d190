"""tracing.received: the span as received is stored without the long strings its columns hold,
and comes back exactly: in the Raw tab, in "show all", in exports and through a re-import."""
import io
import json

import orjson
from hypothesis import given, settings, strategies as st

from tests.otlp_builders import new_span_id, new_trace_id, request, span
from tests.tracing.test_export_hostile_run import ingest
from tracing import dedupe, export, received
from tracing.imports import import_file
from tracing.models import Project, Step

LONG = "The forecast for Lisbon: sunny, 27 degrees, light wind from the north-west. " * 8
UNICODE = "Prévision pour Lisbonne : ensoleillé, 27 °C — vent léger. 里斯本天气晴朗。" * 8
INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": LONG}]},
    {"role": "user", "parts": [{"type": "text", "content": UNICODE}]},
]
OUTPUT = [{"role": "assistant", "finish_reason": "tool_call", "parts": [
    {"type": "text", "content": LONG.upper()},
    {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Lisbon", "note": LONG}},
]}]
RESULT = {"forecast": LONG, "days": [{"t": 27.5, "sky": UNICODE}]}


def _llm_and_tool(trace_id):
    llm, tool = new_span_id(), new_span_id()
    return [
        span(trace_id, llm, "chat gpt-4.1", start_ms=0, dur_ms=400, kind=3, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4.1", "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 80,
            "gen_ai.input.messages": json.dumps(INPUT),  # Python's spacing, non-ASCII escaped
            "gen_ai.output.messages": json.dumps(OUTPUT, separators=(",", ":"), ensure_ascii=False),  # as JS writes it
            "gen_ai.response.id": "resp_" + "x" * 300,  # read in SQL: never elided
            "custom.note": LONG,  # no mapper knows it: kept in `attributes` too
        }),
        span(trace_id, tool, "execute_tool get_weather", start_ms=410, dur_ms=50, attrs={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.arguments": json.dumps({"city": "Lisbon", "note": LONG}),
            "gen_ai.tool.call.result": json.dumps(RESULT, indent=2),
        }),
    ]


def sent_attributes(spans):
    return {s.name: {kv.key: (kv.value.string_value if kv.value.HasField("string_value") else kv.value.int_value)
                     for kv in s.attributes} for s in spans}


def test_long_attributes_are_stored_once_and_received_exactly(project, django_capture_on_commit_callbacks):
    trace_id = new_trace_id()
    spans = _llm_and_tool(trace_id)
    ingest(project, request(spans), django_capture_on_commit_callbacks)
    steps = {s.kind: s for s in Step.objects.filter(project=project, trace_id=trace_id)}
    llm, tool = steps["llm"], steps["tool"]

    assert set(llm.raw["elided"]) == {"gen_ai.input.messages", "gen_ai.output.messages", "custom.note"}
    assert set(tool.raw["elided"]) == {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}
    assert llm.raw["attributes"]["gen_ai.input.messages"] == ""
    assert llm.raw["attributes"]["gen_ai.response.id"] == "resp_" + "x" * 300
    assert len(orjson.dumps(llm.raw)) < 1500 < len(orjson.dumps(llm.received()))  # what the elision saves

    sent = sent_attributes(spans)
    for step in (llm, tool):
        assert step.received()["attributes"] == sent[step.received()["name"]]
        assert "elided" not in step.received()


def test_export_and_reimport_give_back_the_same_spans(project, django_capture_on_commit_callbacks):
    trace_id = new_trace_id()
    spans = _llm_and_tool(trace_id)
    ingest(project, request(spans), django_capture_on_commit_callbacks)
    document = export.run_otlp_json(Step.objects.filter(project=project, trace_id=trace_id))

    exported = {s["name"]: {kv["key"]: next(iter(kv["value"].values())) for kv in s["attributes"]}
                for rs in orjson.loads(document)["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    sent = sent_attributes(spans)
    sent["chat gpt-4.1"]["gen_ai.usage.input_tokens"] = "900"  # int64 travels as a string in OTLP/JSON
    sent["chat gpt-4.1"]["gen_ai.usage.output_tokens"] = "80"
    assert exported == sent

    other = Project.objects.create(name="Review", slug="review")
    with django_capture_on_commit_callbacks(execute=True):
        assert import_file(other, io.BytesIO(document), name="run.otlp.json", actor="tests").ok
    fields = [f.name for f in Step._meta.concrete_fields if f.name not in ("id", "project")]
    original = {s["span_id"]: s for s in Step.objects.filter(project=project).values(*fields)}
    copy = {s["span_id"]: s for s in Step.objects.filter(project=other).values(*fields)}
    assert copy == original
    assert export.run_otlp_json(Step.objects.filter(project=other, trace_id=trace_id)) == document


def test_raw_tab_and_show_all_read_the_received_values(client, project, django_capture_on_commit_callbacks):
    from dashboards import step_display
    from django.contrib.auth.models import User
    from tracing.models import Membership

    trace_id = new_trace_id()
    ingest(project, request(_llm_and_tool(trace_id)), django_capture_on_commit_callbacks)
    llm = Step.objects.get(project=project, trace_id=trace_id, kind="llm")
    pairs = dict(step_display.raw(llm)["attributes"])
    assert '"role": "system"' in pairs["gen_ai.input.messages"].text  # shown pretty-printed
    assert step_display.resolve(llm, ["raw", "attributes", "gen_ai.input.messages"]) == json.dumps(INPUT)

    user = User.objects.create_user("ana", password="pw")
    Membership.objects.create(user=user, project=project, role="viewer")
    client.force_login(user)
    path = json.dumps(["raw", "attributes", "gen_ai.input.messages"])
    page = client.get(f"/p/{project.slug}/runs/{trace_id}/steps/{llm.span_id}/value/", {"path": path})
    assert page.status_code == 200
    shown = page.content.decode()  # the escapes of the received JSON text, pretty-printed unescaped
    assert "Prévision pour Lisbonne" in shown and shown.count("里斯本天气晴朗") == 8  # in full


def test_what_does_not_rebuild_exactly_is_kept_whole():
    columns = {"input": [{"role": "user", "parts": [{"type": "text", "content": LONG}]}]}
    kept = {
        "short": "x" * 10,
        "similar": LONG[:-1] + "!",  # long, but not a string the columns hold
        "reordered": json.dumps({"parts": [{"content": LONG, "type": "text"}], "role": "user"}) + " trailing",
        dedupe.RESPONSE_ID: LONG,
        "list": [LONG],  # not a string
    }
    raw = {"attributes": {**kept, "same": LONG}}
    compacted = received.compact(raw, columns)
    assert compacted["elided"].keys() == {"same", "reordered"}  # a JSON text is rebuilt around the reference
    assert received.restore(compacted, columns) == raw
    assert received.compact({"attributes": kept}, {"input": []}) == {"attributes": kept}


def test_a_reference_that_no_longer_resolves_says_so():
    columns = {"input": [{"role": "user", "parts": [{"type": "text", "content": LONG}]}]}
    compacted = received.compact({"attributes": {"m": LONG}}, columns)
    restored = received.restore(compacted, {"input": []})
    assert restored["attributes"]["m"].startswith("[Sagatrace: this value could not be restored")


# Property: whatever the columns hold and however an exporter wrote its attributes, compaction is
# exact after the columns' trip through the database (jsonb reorders keys; references are by key).
texts = st.text(min_size=0, max_size=400) | st.sampled_from([LONG, UNICODE, LONG.upper(), LONG + "\n\t\"\\"])
values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
writers = st.sampled_from([
    lambda v: json.dumps(v),
    lambda v: json.dumps(v, ensure_ascii=False),
    lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
    lambda v: json.dumps(v, indent=2),
    lambda v: orjson.dumps(v).decode(),
    lambda v: v if isinstance(v, str) else json.dumps(v) + " (truncated)",
])


@settings(max_examples=300, deadline=None)
@given(columns=st.fixed_dictionaries({"input": values, "output": values, "tool_result": values}),
       picks=st.lists(st.tuples(st.sampled_from(["input", "output", "tool_result"]), writers), max_size=4),
       extra=st.dictionaries(st.text(max_size=10), values, max_size=3))
def test_restore_gives_back_exactly_what_compact_received(columns, picks, extra):
    attributes = {**extra, **{f"attr.{i}": write(columns[col]) for i, (col, write) in enumerate(picks)}}
    raw = {"name": "s", "attributes": attributes, "events": []}
    compacted = received.compact(raw, columns)
    stored = orjson.loads(orjson.dumps(compacted))  # as read back
    stored_columns = {k: _jsonb_order(orjson.loads(orjson.dumps(v))) for k, v in columns.items()}
    assert received.restore(stored, stored_columns) == raw


def _jsonb_order(value):
    if isinstance(value, dict):
        return {k: _jsonb_order(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    if isinstance(value, list):
        return [_jsonb_order(v) for v in value]
    return value
