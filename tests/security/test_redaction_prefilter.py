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
