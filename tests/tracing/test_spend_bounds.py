"""Sums of hostile amounts stop at what their columns hold instead of failing every batch that adds
to them. A call's cost is bounded (pricing.MAX_CALL_COST), so only ~92,000 calls at the bound in
one run or one hour reach a bigint of 10^-10 USD; here the bound is raised so that a dozen calls do."""
from decimal import Decimal

import pytest
from django.db import transaction

from ingest.otlp import decode
from tests.diff_spend_builders import llm_attrs
from tests.otlp_builders import new_span_id, new_trace_id, request, span
from tracing import pricing, spend
from tracing.indexer import MAX_RUN_COST, index_spans
from tracing.models import Run, SpendBucket, SpendHour, SpendRun
from tracing.spend import MAX_UNITS

pytestmark = pytest.mark.django_db
HUGE = "900000000"  # USD a call: 9 x 10^18 units, the most a bigint holds is 9.22 x 10^18
LARGE = "100000000"  # 10^18 units


@pytest.fixture(autouse=True)
def _calls_may_cost_a_billion(monkeypatch):
    monkeypatch.setattr(pricing, "MAX_CALL_COST", Decimal(10**10))


def flood(calls, cost=HUGE):
    """A root and `calls` LLM calls each reporting `cost` dollars, all in one hour."""
    trace_id, root = new_trace_id(), new_span_id()
    children = []
    for i in range(calls):
        attrs = llm_attrs("gpt-4o", "openai", 100, 10) | {"gen_ai.usage.cost": cost}
        children.append(span(trace_id, new_span_id(), "chat gpt-4o", parent=root, start_ms=i + 1, kind=3, attrs=attrs))
    root_span = span(trace_id, root, "invoke_agent flood", start_ms=0, dur_ms=calls + 10,
                     attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "flood"})
    return trace_id, root_span, children


def index(project, spans):
    with transaction.atomic():
        index_spans(project.id, decode(request(spans), "protobuf").spans)


def test_a_run_whose_cost_overflows_its_columns_is_indexed_at_the_bound(project):
    trace_id, root, calls = flood(12)  # $10.8 billion: past Run.cost_usd's column and a bigint of units
    index(project, calls[:2])
    index(project, calls[2:7])  # the run only gains steps: its rows are added to
    index(project, [root, *calls[7:]])
    run = Run.objects.get(trace_id=trace_id)
    assert run.steps == 13 and run.llm_calls == 12
    assert run.cost_usd == MAX_RUN_COST
    assert SpendRun.objects.get(trace_id=trace_id).cost_units == MAX_UNITS
    totals = SpendBucket.objects.get(trace_id=trace_id, dimension="totals")
    assert totals.cost_units == MAX_UNITS and totals.llm_calls == 12
    assert SpendHour.objects.get(dimension="totals").cost_units == MAX_UNITS

    with transaction.atomic():  # a rebuild gives the same rows
        spend.recompute_buckets(project.id, [trace_id])
    assert SpendBucket.objects.get(trace_id=trace_id, dimension="totals").cost_units == MAX_UNITS


def test_an_hour_whose_spend_overflows_keeps_counting_what_fits(project):
    """Two runs of 6 calls each fit their own rows; their hour's cells do not."""
    for _ in range(2):
        trace_id, root, calls = flood(6, LARGE)
        index(project, [root, *calls])
        assert SpendRun.objects.get(trace_id=trace_id).cost_units == 6 * 10**18
        assert SpendBucket.objects.get(trace_id=trace_id, dimension="totals").cost_units == 6 * 10**18
    hour = SpendHour.objects.get(dimension="totals")
    assert hour.cost_units == MAX_UNITS and hour.llm_calls == 12
    spend.resum_hours(project.id)  # re-summing the cells from the buckets stops at the bound too
    hour = SpendHour.objects.get(dimension="totals")
    assert hour.cost_units == MAX_UNITS and hour.llm_calls == 12
