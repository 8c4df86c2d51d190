"""A worker indexes the batches waiting behind its own in one transaction (PostgreSQL), and a bad
batch in such a group fails alone."""
import pytest
from django.db import connection

from ingest import indexing
from ingest.models import IngestBatch
from tests.otlp_builders import agent_trace, request
from tracing.models import Run, Step

# Batches are grouped on PostgreSQL only (FOR UPDATE SKIP LOCKED): deselected in the SQLite pass.
pytestmark = [pytest.mark.pg_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    assert connection.vendor == "postgresql", "run this module on the PostgreSQL pass"


def stored(project, body):
    batch = IngestBatch.of(body, project=project, encoding="protobuf", span_count=3)  # as intake stores it
    batch.save()
    return batch.id


def test_batches_waiting_behind_are_indexed_with_it(project):
    traces = [agent_trace() for _ in range(3)]
    ids = [stored(project, request(spans)) for _, spans in traces]
    assert indexing.index_batch(ids[0]) == "indexed"
    assert set(IngestBatch.objects.values_list("status", flat=True)) == {IngestBatch.INDEXED}
    assert Run.objects.count() == 3 and Step.objects.count() == 9
    assert [indexing.index_batch(i) for i in ids[1:]] == ["skipped", "skipped"]  # their own tasks


def test_group_stays_within_its_span_budget(project, settings):
    settings.SAGATRACE_INDEX_GROUP_SPANS = 6  # this batch and one more
    ids = [stored(project, request(agent_trace()[1])) for _ in range(3)]
    indexing.index_batch(ids[0])
    assert list(IngestBatch.objects.order_by("id").values_list("status", flat=True)) == [
        IngestBatch.INDEXED, IngestBatch.INDEXED, IngestBatch.PENDING]


@pytest.mark.parametrize("compressed", [True, False], ids=["compressed", "stored by an earlier release"])
def test_group_stays_within_its_byte_budget(project, settings, compressed):
    """The budget bounds the worker's memory: it counts the bodies as received, not as stored."""
    bodies = [request(agent_trace()[1]) for _ in range(3)]
    settings.SAGATRACE_INDEX_GROUP_BYTES = len(bodies[0]) + len(bodies[1])  # this batch and one more
    ids = [stored(project, body) if compressed else
           IngestBatch.objects.create(project=project, encoding="protobuf", body=body, span_count=3).id
           for body in bodies]
    if compressed:  # the three would fit the budget as stored
        assert sum(len(bytes(b)) for b in IngestBatch.objects.values_list("body", flat=True)) <= \
            settings.SAGATRACE_INDEX_GROUP_BYTES
    indexing.index_batch(ids[0])
    assert list(IngestBatch.objects.order_by("id").values_list("status", flat=True)) == [
        IngestBatch.INDEXED, IngestBatch.INDEXED, IngestBatch.PENDING]
    settings.SAGATRACE_INDEX_GROUP_BYTES = 1  # a batch larger than the budget is still indexed, alone
    assert indexing.index_batch(ids[2]) == "indexed"


def test_a_bad_batch_in_a_group_fails_alone(project):
    good_trace, good_spans = agent_trace()
    first = stored(project, request(agent_trace()[1]))
    bad = IngestBatch.objects.create(project=project, encoding="protobuf", body=b"\xff\xff not protobuf",
                                     span_count=3).id
    last = stored(project, request(good_spans))
    assert indexing.index_batch(first) == "indexed"
    statuses = dict(IngestBatch.objects.values_list("id", "status"))
    assert statuses == {first: IngestBatch.INDEXED, bad: IngestBatch.PENDING, last: IngestBatch.INDEXED}
    assert "MalformedOTLP" in IngestBatch.objects.get(id=bad).error
    assert Run.objects.filter(trace_id=good_trace).exists()


def test_other_projects_batches_are_not_taken(project):
    from tracing.models import Project

    other = Project.objects.create(name="Other", slug="other")
    mine = stored(project, request(agent_trace()[1]))
    theirs = stored(other, request(agent_trace()[1]))
    indexing.index_batch(mine)
    assert IngestBatch.objects.get(id=theirs).status == IngestBatch.PENDING
