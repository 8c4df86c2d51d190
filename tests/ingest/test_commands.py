"""manage.py send_otlp and reindex, as an operator uses them."""
import gzip

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ingest.models import IngestBatch
from tests.otlp_builders import agent_trace, request, to_json
from tracing.models import Run, Step

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_otlp_posts_saved_bodies_of_each_encoding(live_server, api_key, tmp_path):
    files = []
    for name, body in (("a.pb", request(agent_trace()[1])), ("b.json", to_json(request(agent_trace()[1]))),
                       ("c.pb.gz", gzip.compress(request(agent_trace()[1])))):
        (tmp_path / name).write_bytes(body)
        files.append(str(tmp_path / name))
    call_command("send_otlp", *files, url=f"{live_server.url}/v1/traces", key=api_key)
    assert Run.objects.count() == 3 and Step.objects.count() == 9


def test_send_otlp_reports_rejected_files(live_server, api_key, tmp_path):
    (tmp_path / "bad.pb").write_bytes(b"\xff\xff\xff")
    with pytest.raises(CommandError, match="1 file"):
        call_command("send_otlp", str(tmp_path / "bad.pb"), url=f"{live_server.url}/v1/traces", key=api_key)


def test_reindex_rebuilds_steps_and_runs_from_raw_batches(client, api_key, project):
    trace_id, spans = agent_trace()
    client.post("/v1/traces", data=request(spans), content_type="application/x-protobuf",
                HTTP_AUTHORIZATION=f"Bearer {api_key}")
    before = sorted(Step.objects.values_list("span_id", "kind", "input_tokens", "cost_usd"))
    Step.objects.filter(trace_id=trace_id, kind="llm").update(input_tokens=1, cost_usd=None)  # a normalizer bug
    Run.objects.filter(trace_id=trace_id).update(input_tokens=1)
    call_command("reindex", project="acme")
    assert sorted(Step.objects.values_list("span_id", "kind", "input_tokens", "cost_usd")) == before
    assert Run.objects.get(trace_id=trace_id).input_tokens == 1000
    assert IngestBatch.objects.get().status == IngestBatch.INDEXED
