"""Redaction of secrets before a step is stored: built-in rules plus a project's own patterns.

Applied at index time to every stored step field and to the span as received (attributes,
events, status message), so a secret never reaches the Step table. The replacement names
the rule: `[REDACTED:openai_key]`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields

from tracing.spans import SpanRecord
from tracing.steps import StepData


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# name → (pattern, check). Order matters: the Anthropic key before the generic "sk-" one.
Check = Callable[[str], bool]  # whether a match is really one (a card number's Luhn digit)
BUILTIN_RULES: dict[str, tuple[str, Check | None]] = {
    "private_key": (r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----", None),
    "anthropic_key": (r"\bsk-ant-[A-Za-z0-9_-]{20,}", None),
    "openai_key": (r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", None),
    "aws_access_key": (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", None),
    "github_token": (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", None),
    "slack_token": (r"\bxox[abprs]-[A-Za-z0-9-]{10,}", None),
    "google_api_key": (r"\bAIza[0-9A-Za-z_-]{35}\b", None),
    "jwt": (r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}", None),
    "bearer_token": (r"\b(?i:bearer)\s+[A-Za-z0-9._~+/-]{16,}=*", None),
    "card_number": (r"\b\d(?:[ -]?\d){12,18}\b", lambda m: _luhn(re.sub(r"\D", "", m))),
}
# Lower-case literals at least one of which every match of the rule contains ("digits": a run of
# 13 digits). Text holding none of its rules' literals cannot match, so the regex (an alternation
# tried at every position, ~0.4 us a character: the cost of redaction) is skipped for it. With a
# rule that has no entry (custom patterns) every text goes through the regex.
_LITERALS: dict[str, tuple[str, ...]] = {
    "private_key": ("-----begin",),
    "anthropic_key": ("sk-",),
    "openai_key": ("sk-",),
    "aws_access_key": ("akia", "asia"),
    "github_token": ("gh?_",),  # gh[pousr]_, by a regex with a literal prefix
    "slack_token": ("xox",),
    "google_api_key": ("aiza",),
    "jwt": ("eyj",),
    "bearer_token": ("bearer",),
    "card_number": ("digits",),
}
_NOT_DIGITS = bytes([b for b in range(256) if not 48 <= b <= 57])
_SHORTEST_MATCH = 13  # no built-in rule matches fewer characters (a 13-digit card number)
_GITHUB_PREFIX = re.compile("gh[pousr]_")
_DIGITS_AS_ZERO = bytes([48 if 48 <= b <= 57 else 32 for b in range(256)])  # bytes.translate: a digit to 0, others to space
_THIRTEEN_DIGITS = b"0" * 13
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12}")  # what every card_number match starts with (\d: any script)
RULE_DESCRIPTIONS = {
    "private_key": "PEM private key blocks",
    "anthropic_key": "Anthropic API keys (sk-ant-…)",
    "openai_key": "OpenAI API keys (sk-…, sk-proj-…)",
    "aws_access_key": "AWS access key ids (AKIA…, ASIA…)",
    "github_token": "GitHub tokens (ghp_…, gho_…)",
    "slack_token": "Slack tokens (xoxb-…)",
    "google_api_key": "Google API keys (AIza…)",
    "jwt": "JSON Web Tokens",
    "bearer_token": "Bearer tokens in Authorization-style text",
    "card_number": "Payment card numbers (Luhn-checked)",
}


class Redactor:
    """One compiled alternation of all active rules; `text()` rewrites a string, `value()` walks JSON."""

    def __init__(self, rules: list[tuple[str, str, Check | None]]):
        self.rules = rules
        self.names = [name for name, _, _ in rules]
        self.checks = {f"r{i}": (name, check) for i, (name, _, check) in enumerate(rules)}
        self.regex = re.compile("|".join(f"(?P<r{i}>{pattern})" for i, (_, pattern, _) in enumerate(rules))) if rules else None
        literals = [_LITERALS[name] for name in self.names if name in _LITERALS]
        # None: a custom rule is active, every non-empty text goes through the regex.
        self.prefilter: list[str] | None = None
        self.check_digits = self.check_github = False
        if len(literals) == len(self.names):
            wanted = {x for lit in literals for x in lit}
            self.check_digits, self.check_github = "digits" in wanted, "gh?_" in wanted
            self.prefilter = sorted(wanted - {"digits", "gh?_"})  # each one scan of the lower-cased text

    def _replace(self, match: re.Match) -> str:
        group = match.lastgroup or ""
        name, check = self.checks[group]
        if check is not None and not check(match.group(group)):
            return match.group(0)
        return f"[REDACTED:{name}]"

    def could_match(self, value: str) -> bool:
        """False only when no rule can match `value` (then sub() would change nothing)."""
        if self.prefilter is None:
            return True
        if len(value) < _SHORTEST_MATCH:
            return False
        low = value.lower()
        for literal in self.prefilter:
            if literal in low:
                return True
        if self.check_github and "_" in low and _GITHUB_PREFIX.search(low):
            return True
        if not self.check_digits:
            return False
        if not value.isascii():  # \d also matches other scripts' digits
            return _DIGIT_RUN.search(value) is not None
        raw = value.encode()
        if len(raw.translate(None, _NOT_DIGITS)) < 13:
            return False  # fewer than 13 digits in all
        # Digit runs with the single spaces and hyphens a card number may hold removed (which can
        # only join more digits than the regex would: a superset), everything else a separator.
        return _THIRTEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO, b" -")  # one search, no token split

    def text(self, value: str) -> str:
        if self.regex is None or not value or not self.could_match(value):
            return value
        return self.regex.sub(self._replace, value)

    def value(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def step(self, data: StepData, span: SpanRecord, clean: set[str] | None = None) -> None:
        """Redact the step and its span in place. `clean`: strings known to hold nothing to redact
        (those of the run's earlier steps, which re-send its conversation); skipped by the one scan,
        and this span's strings are added to it when none of them can match either."""
        if self.regex is None:
            return
        if self.prefilter is not None:
            strings = _all_strings(data, span, clean or ())
            # A literal, a GitHub prefix or a 13-digit run is inside one string (NUL joins them), so
            # the joined text cannot match exactly when none of the strings can.
            if not self.could_match("\x00".join(strings)):
                if clean is not None:
                    clean.update(strings)
                return  # the usual case: one scan of the span's text instead of one per string
        for f in fields(data):
            current = getattr(data, f.name)
            if isinstance(current, (str, list, dict)) and current:
                setattr(data, f.name, self.value(current))
        span.attributes = self.value(span.attributes)
        span.status_message = self.text(span.status_message)
        for event in span.events:
            event.attributes = self.value(event.attributes)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(StepData))


def _all_strings(data: StepData, span: SpanRecord, skip: set[str] | tuple = ()) -> list[str]:
    """Every string `Redactor.step` would rewrite, but those in `skip`."""
    out: list[str] = [span.status_message or ""]
    stack: list = [getattr(data, name) for name in _FIELD_NAMES]
    stack.append(span.attributes)
    stack.extend(event.attributes for event in span.events)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item not in skip:
                out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def build(disabled=(), custom=()) -> Redactor:
    rules: list[tuple[str, str, Check | None]] = [
        (name, pattern, check) for name, (pattern, check) in BUILTIN_RULES.items() if name not in disabled]
    rules += [(name, pattern, None) for name, pattern in custom]
    return Redactor(rules)


def validate_pattern(pattern: str) -> str:
    """Empty string when usable; otherwise why not."""
    try:
        compiled = re.compile(pattern)
        re.compile(f"(?:{pattern})|x")  # it must also work inside the combined alternation
    except re.error as exc:
        return f"not a valid regular expression: {exc} (use scoped flags like (?i:…))"
    if compiled.groups and compiled.groupindex:
        return "named groups are not allowed"
    if compiled.match(""):
        return "the pattern matches empty text"
    return ""


_cache: dict[int, tuple[int, Redactor]] = {}


def redactor_for(project_id: int):
    """The project's redaction as a callable(step_data, span); rebuilt when its rules change."""
    from tracing.models import Project, RedactionRule

    version, disabled = Project.objects.filter(id=project_id).values_list("redaction_version", "redaction_disabled").get()
    cached = _cache.get(project_id)
    if cached is None or cached[0] != version:
        custom = list(RedactionRule.objects.filter(project_id=project_id).order_by("name").values_list("name", "pattern"))
        cached = (version, build(disabled, [(f"custom_{n}", p) for n, p in custom]))
        _cache[project_id] = cached
    return cached[1].step
