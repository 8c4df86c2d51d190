"""The literal prefilter that lets redaction skip the regex never changes what is redacted."""
from hypothesis import given, settings as hsettings, strategies as st

from tests.security.test_redaction import SAMPLES
from tracing.redaction import BUILTIN_RULES, build

# Secrets, near-misses and other scripts' digits, glued to ordinary text in any order.
FRAGMENTS = [*SAMPLES.values(), "Bearer", "BEARER xyz", "sk-", "AKIA", "asia", "eyJ", "ghp_", "xoxb-", "AIza",
             "-----BEGIN", "4111-1111-1111-1111", "4111111111111111", "١٢٣٤٥٦٧٨٩٠١٢٣٤", "12/30 1234 5678",
             "weather in Lisbon", "call_0123456789abcdef", '{"role": "user"}', "\n", "é"]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30)), max_size=8).map("".join)
rule_sets = st.lists(st.sampled_from(sorted(BUILTIN_RULES)), unique=True).map(tuple)


def plain(redactor, text):
    """What the redactor did before the prefilter: the alternation over every text."""
    return redactor.regex.sub(redactor._replace, text) if redactor.regex and text else text


@hsettings(max_examples=3000, deadline=None)
@given(text=texts, disabled=rule_sets)
def test_prefilter_never_changes_the_result(text, disabled):
    redactor = build(disabled)
    assert redactor.text(text) == plain(redactor, text)


def test_a_custom_rule_turns_the_prefilter_off():
    redactor = build((), [("custom_ticket", r"TICKET-\d+")])
    assert redactor.prefilter is None
    assert redactor.text("see TICKET-42") == "see [REDACTED:custom_ticket]"


class Untouchable:
    def sub(self, *args):
        raise AssertionError("the regex ran")


def test_text_without_any_rule_literal_skips_the_regex():
    redactor = build()
    redactor.regex = Untouchable()
    text = "a long message about the weather in Lisbon, call_0123456789ab, nothing secret"
    assert redactor.text(text) == text


# JSON-like values with the fragments anywhere: strings, nested lists and dicts, numbers.
json_values = st.recursive(
    st.one_of(texts, st.integers(), st.none(), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FRAGMENTS), inner, max_size=4)),
    max_leaves=12,
)


def _walked(redactor, data, span):
    """Redactor.step without its one-scan shortcut: every string through text()."""
    saved, redactor.prefilter = redactor.prefilter, None
    try:
        redactor.step(data, span)
    finally:
        redactor.prefilter = saved


@hsettings(max_examples=800, deadline=None)
@given(input=json_values, output=json_values, reasoning=texts, tool_result=json_values, attributes=json_values,
       event_attributes=json_values, status=texts, disabled=rule_sets)
def test_one_scan_per_span_redacts_exactly_what_walking_every_string_does(
        input, output, reasoning, tool_result, attributes, event_attributes, status, disabled):
    from tracing.spans import SpanEvent, SpanRecord
    from tracing.steps import StepData

    def make():
        data = StepData(kind="llm", input=input, output=output, reasoning=reasoning, tool_result=tool_result)
        span = SpanRecord(trace_id="t", span_id="s", parent_span_id=None, name="chat", kind=1, start_ns=1, end_ns=2,
                          status_message=status, attributes={"a": attributes},
                          events=[SpanEvent(name="e", time_ns=1, attributes={"b": event_attributes})])
        return data, span

    redactor = build(disabled)
    fast, walked = make(), make()
    redactor.step(*fast)
    _walked(redactor, *walked)
    assert fast[0] == walked[0]
    assert (fast[1].attributes, fast[1].status_message, fast[1].events) == \
        (walked[1].attributes, walked[1].status_message, walked[1].events)


@hsettings(max_examples=400, deadline=None)
@given(pool=st.lists(json_values, min_size=1, max_size=4), picks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)),
       min_size=1, max_size=6), disabled=rule_sets)
def test_strings_a_run_already_scanned_are_skipped_without_changing_the_result(pool, picks, disabled):
    """The indexer passes each run's `clean` strings: steps re-sending earlier messages (here: values
    drawn again from a pool) are redacted exactly as without that memo."""
    from tracing.spans import SpanRecord
    from tracing.steps import StepData

    def make(i, o):
        data = StepData(kind="llm", input=pool[i % len(pool)], output=pool[o % len(pool)])
        return data, SpanRecord(trace_id="t", span_id="s", parent_span_id=None, name="chat", kind=1, start_ns=1,
                                end_ns=2, attributes={"in": pool[i % len(pool)]})

    redactor, clean = build(disabled), set()
    for i, o in picks:
        memo, alone = make(i, o), make(i, o)
        redactor.step(*memo, clean)
        redactor.step(*alone)
        assert (memo[0], memo[1].attributes) == (alone[0], alone[1].attributes)


def test_a_run_resending_a_clean_message_scans_it_once():
    from tracing.spans import SpanRecord
    from tracing.steps import StepData

    message = "the weather in Lisbon is sunny " * 20
    redactor, clean = build(), set()
    redactor.step(StepData(kind="llm", input=message), SpanRecord("t", "a", None, "chat", 1, 1, 2), clean)
    assert message in clean
    redactor.prefilter = ["lisbon"]  # were the message scanned again, this literal would send it to the regex
    redactor.regex = Untouchable()
    redactor.step(StepData(kind="llm", input=message), SpanRecord("t", "b", None, "chat", 1, 1, 2), clean)
