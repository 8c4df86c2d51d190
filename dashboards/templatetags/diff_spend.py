"""Template helpers of the diff and spend pages."""
import json
from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.template.defaultfilters import truncatechars
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join

from dashboards.templatetags.sagatrace import duration, usd

register = template.Library()

MAX_SHOWN = 4000  # characters of a value shown inline; the run page and API have all of it


@register.simple_tag
def query_with(query, **changes):
    """The current query string with some parameters replaced (empty value = removed)."""
    params = {**query, **{k: v for k, v in changes.items()}}
    return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


@register.simple_tag
def spend_table_body(rows):
    """The <tr>s of a spend table (spend_tables.display rows), escaped as the template loop escaped them:
    a 100-row breakdown and a 90-day over-time table are ~2,500 cells, ~60 ms through template tags."""
    return format_html_join("", "<tr>{}</tr>", ((format_html_join("", "{}", ((_cell(c),) for c in row)),)
                                                for row in rows))


def _cell(cell) -> str:
    if cell.get("empty"):
        text = format_html('<span class="muted">{}</span>', localize(cell["text"]))
    else:
        text = truncatechars(cell["text"], 80)
    value = cell.get("value")
    attrs = format_html(' data-value="{}"', localize(value)) if value is not None else ""
    return format_html('<td class="num"{}>{}</td>' if cell["num"] else "<td{}>{}</td>", attrs, text)


@register.filter
def shown(value):
    """A step value as text for the page: strings as they are, data as indented JSON, bounded."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"… ({len(text) - MAX_SHOWN:,} more characters)"


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def delta(value, kind="int"):
    """A difference with its sign, in the unit of `kind` (usd, ms or int): +3, −$0.002, +1.20 s."""
    if value is None:
        return "—"
    if value == 0:
        return "±0"
    magnitude = abs(value)
    text = usd(magnitude) if kind == "usd" else duration(magnitude) if kind == "ms" else f"{int(magnitude):,}"
    return ("+" if value > 0 else "−") + text


@register.filter
def amount(value, kind="int"):
    if kind == "usd":
        return usd(value)
    if kind == "ms":
        return duration(value)
    return "—" if value is None else f"{int(value):,}"


@register.filter
def elide(text, keep=300):
    """The middle of a long stretch of text left out, so a one-word change in a long message stays readable."""
    text = str(text)
    return text if len(text) <= 2 * keep + 40 else f"{text[:keep]} … [{len(text) - 2 * keep:,} characters] … {text[-keep:]}"


@register.filter
def metric(value, field):
    """A step metric as the run page shows it: cost in dollars, duration in ms or s, tokens with separators."""
    if field == "cost_usd":
        return usd(value)
    if field == "duration_ms":
        return duration(value)
    return "—" if value is None else f"{int(value):,}"


@register.filter
def metric_delta(value, field):
    return delta(Decimal(value) if field == "cost_usd" else value, "usd" if field == "cost_usd" else
                 "ms" if field == "duration_ms" else "int")


FIELD_LABELS = {"tool_arguments": "arguments", "tool_result": "result", "tool_name": "tool", "input_tokens": "in",
                "output_tokens": "out", "cache_read_tokens": "cached", "cache_write_tokens": "cache writes",
                "reasoning_tokens": "reasoning", "cost_usd": "cost", "duration_ms": "duration"}


@register.filter
def field_label(field):
    return FIELD_LABELS.get(field, field)


@register.filter
def inline(value, limit=240):
    """A JSON value on one line, bounded: for lists of changes."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
