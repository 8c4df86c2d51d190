"""Indexing is idempotent: any replay, in any order, gives the same database."""
from decimal import Decimal

import pytest
from django.utils import timezone

from ingest import indexing
from ingest.models import IngestBatch
from tests.otlp_builders import agent_trace, new_span_id, request, span
from tracing.models import Run, Step

PB = "application/x-protobuf"
# on_commit must fire, as in production: batches are queued only after the intake transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


def post(client, body, key):
    return client.post("/v1/traces", data=body, content_type=PB, HTTP_AUTHORIZATION=f"Bearer {key}")


def snapshot():
    steps = sorted(
        Step.objects.values_list("trace_id", "span_id", "parent_span_id", "kind", "name", "input_tokens",
                                 "output_tokens", "cost_usd", "tool_result", "is_error")
    )
    runs = sorted(
        Run.objects.values_list("trace_id", "status", "steps", "llm_calls", "tool_calls", "errors", "input_tokens",
                                "output_tokens", "cost_usd", "agent", "root_span_id")
    )
    return steps, runs


def test_duplicate_request_changes_nothing(client, api_key):
    _, spans = agent_trace()
    body = request(spans)
    post(client, body, api_key)
    before = snapshot()
    post(client, body, api_key)
    assert snapshot() == before
    assert Step.objects.count() == 3


def test_children_first_then_root_gives_the_same_run_as_one_batch(client, api_key, project):
    trace_id, spans = agent_trace()
    post(client, request(spans), api_key)
    together = snapshot()
    Step.objects.all().delete()
    Run.objects.all().delete()

    children, root = spans[:2], spans[2:]
    post(client, request(children), api_key)
    run = Run.objects.get(trace_id=trace_id)
    assert run.status == Run.IN_PROGRESS and run.steps == 2
    post(client, request(root), api_key)
    assert snapshot() == together
    assert Run.objects.get(trace_id=trace_id).status == Run.OK


def test_resent_span_with_more_data_replaces_the_older_copy_in_either_order(client, api_key):
    trace_id, spans = agent_trace()
    tool = spans[1]
    early = span(trace_id, tool.span_id.hex(), "execute_tool search", parent=tool.parent_span_id.hex(),
                 start_ms=520, dur_ms=10, attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
    post(client, request([early]), api_key)
    post(client, request(spans), api_key)
    in_order = snapshot()
    Step.objects.all().delete()
    Run.objects.all().delete()
    post(client, request(spans), api_key)
    post(client, request([early]), api_key)  # the older copy arrives last: ignored
    assert snapshot() == in_order
    assert Step.objects.get(span_id=tool.span_id.hex()).tool_result == "sunny"


def test_root_error_makes_the_run_an_error(client, api_key):
    trace_id, spans = agent_trace()
    spans[2].status.code = 2
    spans[2].status.message = "agent gave up"
    post(client, request(spans), api_key)
    run = Run.objects.get(trace_id=trace_id)
    assert (run.status, run.errors) == (Run.ERROR, 1)


def test_run_without_root_becomes_incomplete_after_the_timeout(client, api_key, settings):
    trace_id, spans = agent_trace(with_root=False)
    post(client, request(spans), api_key)
    settings.SAGATRACE_INCOMPLETE_AFTER_SECONDS = 0
    indexing.sweep()
    run = Run.objects.get(trace_id=trace_id)
    assert run.status == Run.INCOMPLETE and run.steps == 2  # kept, never dropped


def test_sweep_redrives_a_batch_left_pending(api_key, project, settings):
    trace_id, spans = agent_trace()
    batch = IngestBatch.objects.create(project=project, encoding="protobuf", body=request(spans),
                                       received_at=timezone.now() - timezone.timedelta(hours=1))
    settings.SAGATRACE_SWEEP_GRACE_SECONDS = 60
    assert indexing.sweep()["redriven"] == 1
    batch.refresh_from_db()
    assert batch.status == IngestBatch.INDEXED
    assert Run.objects.get(trace_id=trace_id).steps == 3


def test_a_batch_stored_uncompressed_by_an_earlier_release_is_indexed(project):
    trace_id, spans = agent_trace()
    batch = IngestBatch.objects.create(project=project, encoding="protobuf", body=request(spans), span_count=3)
    assert (batch.compression, batch.body_bytes) == ("", None)
    assert indexing.index_batch(batch.id) == "indexed"
    assert Run.objects.get(trace_id=trace_id).steps == 3


@pytest.mark.parametrize("damage", ["truncated", "unknown compression", "size disagrees"])
def test_a_damaged_stored_body_fails_its_batch_with_the_reason(project, settings, damage):
    settings.SAGATRACE_MAX_INDEX_ATTEMPTS = 1
    batch = IngestBatch.of(request(agent_trace()[1]), project=project, encoding="protobuf", span_count=3)
    if damage == "truncated":
        batch.body = batch.body[:-10]
    elif damage == "unknown compression":
        batch.compression = "brotli"
    else:
        batch.body_bytes += 1
    batch.save()
    with pytest.raises(Exception):
        indexing.index_batch(batch.id)
    batch.refresh_from_db()
    assert batch.status == IngestBatch.FAILED
    assert {"truncated": "ZstdError", "unknown compression": "unknown compression 'brotli'",
            "size disagrees": "decompressed to"}[damage] in batch.error
    assert not Run.objects.exists()


def test_batch_failing_repeatedly_is_marked_failed_with_its_error(project, settings):
    settings.SAGATRACE_MAX_INDEX_ATTEMPTS = 2
    batch = IngestBatch.objects.create(project=project, encoding="protobuf", body=b"\xff\xff not protobuf")
    for _ in range(2):
        try:
            indexing.index_batch(batch.id)
        except Exception:
            pass
    batch.refresh_from_db()
    assert batch.status == IngestBatch.FAILED
    assert batch.attempts == 2 and "MalformedOTLP" in batch.error
    indexing.redrive(batch.id)  # re-queued and retried at once (in-process): still malformed, so pending again
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == (IngestBatch.PENDING, 1)
    assert "MalformedOTLP" in batch.error


@pytest.mark.parametrize("attrs", [
    {"gen_ai.usage.cost": "1e15"},  # beyond a step's cost column ($10^10) and the spend units' bigint
    {"gen_ai.usage.cost": "123456789.5"},
    {"gen_ai.usage.input_tokens": 2**52, "gen_ai.usage.output_tokens": 2**52},  # $5.6e10 of gpt-4o; sums overflow
    {"gen_ai.usage.input_tokens": 10**10, "gen_ai.usage.output_tokens": 9 * 10**9},  # $90,000 of gpt-4o
])
def test_absurd_amounts_in_one_span_do_not_keep_its_batch_from_being_indexed(client, api_key, attrs):
    """One span's garbage is not counted; before, it failed the batch's COPY (numeric or bigint
    overflow) at every retry, and the other spans of the batch were never indexed."""
    trace_id, spans = agent_trace(input_tokens=1000, output_tokens=100)
    absurd = span(trace_id, new_span_id(), "chat gpt-4o", parent=spans[0].parent_span_id.hex(), start_ms=30,
                  kind=3, attrs={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                 "gen_ai.request.model": "gpt-4o", **attrs})
    others = [agent_trace()[1] for _ in range(2)]
    assert post(client, request([*spans, absurd] + sum(others, [])), api_key).status_code == 200
    assert IngestBatch.objects.get().status == IngestBatch.INDEXED
    assert Step.objects.count() == 10
    step = Step.objects.get(span_id=absurd.span_id.hex())
    assert (step.cost_usd, step.cost_source) == (None, "unpriced")
    assert any(why in step.cost_note for why in ("no call costs $10,000 or more", "not plausible", "no token counts"))
    run = Run.objects.get(trace_id=trace_id)
    assert (run.input_tokens, run.output_tokens, run.cost_usd, run.unpriced_calls) == (
        1000 + (step.input_tokens or 0), 100 + (step.output_tokens or 0), Decimal("0.0035"), 1)
    assert step.input_tokens in (None, 10**10)  # 2**52 is not a token count


def test_a_span_ending_at_the_last_nanosecond_otlp_allows_is_indexed_with_its_batch(client, api_key):
    """int64 nanoseconds reach 2262; a copy's version (its end in microseconds × 1024) overflowed the
    bigint column past ~2255, and the batch failed at every retry."""
    trace_id, spans = agent_trace()
    late = span(trace_id, new_span_id(), "late", parent=spans[0].parent_span_id.hex())
    late.start_time_unix_nano, late.end_time_unix_nano = 2**63 - 10**12, 2**63 - 1
    assert post(client, request([*spans, late]), api_key).status_code == 200
    assert IngestBatch.objects.get().status == IngestBatch.INDEXED
    assert Step.objects.get(span_id=late.span_id.hex()).end_ns == 2**63 - 1
    assert Run.objects.get(trace_id=trace_id).steps == 4


def test_a_built_step_is_the_instance_the_model_would_construct(project):
    """build_step skips Model.__init__ (tracing.indexer._new_step): the instance must be the same as
    Step(**its values), and save and read back like one."""
    from ingest import otlp
    from tracing.conventions import normalize
    from tracing.indexer import build_step

    _, spans = agent_trace()
    for record in otlp.decode(request(spans), otlp.PROTOBUF).spans:
        step = build_step(project.id, record, normalize(record))
        values = {f.attname: getattr(step, f.attname) for f in Step._meta.concrete_fields}
        plain = Step(**values)
        assert {k: v for k, v in vars(step).items() if k != "_state"} == {
            k: v for k, v in vars(plain).items() if k != "_state"}
        assert (step._state.adding, step._state.db) == (True, None)
        step.save()
        assert step.pk is not None and (step._state.adding, step._state.db) == (False, "default")
        assert Step.objects.filter(pk=step.pk).values(*values).get() == {**values, "id": step.pk}
