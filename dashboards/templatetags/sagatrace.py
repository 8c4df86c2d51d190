"""Formatting for numbers users read: exact, with units, never hiding 'unknown' as zero."""
from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def duration(ms):
    if ms is None:
        return "—"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)} m {seconds:04.1f} s"


@register.filter
def usd(value):
    """Dollars with enough precision to be exact for small LLM calls (trailing zeros dropped)."""
    if value is None:
        return "unpriced"
    value = Decimal(value)
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    text = f"{value:.8f}".rstrip("0").rstrip(".")
    return f"${text}"


@register.filter
def tokens(value):
    if value is None:
        return "—"
    return f"{int(value):,}"
