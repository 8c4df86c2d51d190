"""The pure decoder: limits and markers behave the same on every pass."""
from ingest import otlp
from tests.otlp_builders import agent_trace, request


def test_truncation_is_idempotent_so_reimported_exports_round_trip():
    once = otlp._truncate("é" * 3000, 1000)
    assert "truncated by sagatrace" in once
    assert otlp._truncate(once, 1000) == once


def test_nul_characters_are_replaced_because_postgres_cannot_store_them():
    trace_id, spans = agent_trace()
    spans[0].name = "a\x00b"
    decoded = otlp.decode(request(spans), otlp.PROTOBUF)
    assert decoded.spans[0].name == "a\ufffdb"


def test_protobuf_and_json_decode_to_the_same_records():
    from tests.otlp_builders import to_json

    _, spans = agent_trace()
    body = request(spans)
    assert otlp.decode(body, otlp.PROTOBUF).spans == otlp.decode(to_json(body), otlp.JSON).spans
