"""Secrets never reach the Step table: each built-in rule, custom rules, nested JSON, attributes."""
import json

import pytest

from tests.otlp_builders import agent_trace, new_span_id, request, span
from tracing.models import Project, RedactionRule, Step
from tracing.redaction import build, validate_pattern

SAMPLES = {
    "openai_key": "use sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z to call",
    "anthropic_key": "key=sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abc",
    "aws_access_key": "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "bearer_token": "Authorization: Bearer abcdefghijklmnop1234567890.xyz",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
    "jwt": "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "card_number": "card 4111 1111 1111 1111 exp 12/30",
    "github_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "google_api_key": "AIzaSyA-1234567890abcdefghijklmnopqrstu",
    "slack_token": "xoxb-1234567890-abcdefghij",
}


@pytest.mark.parametrize("rule", sorted(SAMPLES))
def test_each_builtin_rule_redacts_its_secret(rule):
    redacted = build().text(SAMPLES[rule])
    assert f"[REDACTED:{rule}]" in redacted


def test_luhn_invalid_numbers_and_ordinary_text_are_left_alone():
    text = "order 1234 5678 9012 3456 shipped; sk-short; the bearer of good news"
    assert build().text(text) == text


def test_disabled_builtin_is_not_applied():
    assert build(disabled=["aws_access_key"]).text(SAMPLES["aws_access_key"]) == SAMPLES["aws_access_key"]


def test_pattern_validation_explains_problems():
    assert "not a valid" in validate_pattern("(")
    assert "empty" in validate_pattern("a*")
    assert validate_pattern(r"ACME-\d{6}") == ""


@pytest.mark.django_db(transaction=True)
def test_secrets_in_messages_tool_arguments_and_attributes_are_redacted_in_the_database(client, api_key, project):
    RedactionRule.objects.create(project=project, name="acme_ticket", pattern=r"ACME-\d{6}")
    Project.objects.filter(id=project.id).update(redaction_version=1)
    trace_id, spans = agent_trace()
    root = spans[2].span_id.hex()
    messages = [{"role": "user", "parts": [{"type": "text", "content": "my key is sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"}]}]
    spans.append(span(trace_id, new_span_id(), "chat gpt-4o", parent=root, kind=3, attrs={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": json.dumps(messages),
        "http.request.header.authorization": "Bearer abcdefghijklmnop1234567890.xyz",
    }))
    spans.append(span(trace_id, new_span_id(), "execute_tool pay", parent=root, attrs={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "pay",
        "gen_ai.tool.call.arguments": json.dumps({"card": {"number": "4111-1111-1111-1111"}, "ref": "ACME-123456"})}))
    response = client.post("/v1/traces", data=request(spans), content_type="application/x-protobuf",
                           HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 200
    dump = json.dumps(list(Step.objects.filter(trace_id=trace_id).values()), default=str)
    for secret in ("sk-proj-Ab3dEf6", "abcdefghijklmnop1234567890", "4111-1111-1111-1111", "ACME-123456"):
        assert secret not in dump
    llm = Step.objects.get(trace_id=trace_id, name="chat gpt-4o", input__isnull=False)
    assert "[REDACTED:openai_key]" in json.dumps(llm.input)
    assert llm.received()["attributes"]["http.request.header.authorization"] == "[REDACTED:bearer_token]"
    tool = Step.objects.get(trace_id=trace_id, tool_name="pay")
    assert tool.tool_arguments == {"card": {"number": "[REDACTED:card_number]"}, "ref": "[REDACTED:custom_acme_ticket]"}


@pytest.mark.django_db(transaction=True)
def test_redacted_text_is_what_the_run_page_shows(client, api_key, alice):
    trace_id, spans = agent_trace()
    root = spans[2].span_id.hex()
    llm_id = new_span_id()
    spans.append(span(trace_id, llm_id, "chat gpt-4o", parent=root, kind=3, attrs={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
            {"type": "text", "content": "deploy with AKIAIOSFODNN7EXAMPLE please"}]}])}))
    client.post("/v1/traces", data=request(spans), content_type="application/x-protobuf",
                HTTP_AUTHORIZATION=f"Bearer {api_key}")
    client.force_login(alice)
    pane = client.get(f"/p/acme/runs/{trace_id}/steps/{llm_id}/").content.decode()
    raw = client.get(f"/p/acme/runs/{trace_id}/steps/{llm_id}/value/").content.decode()
    for html in (pane, raw):
        assert "AKIAIOSFODNN7EXAMPLE" not in html
    assert "[REDACTED:aws_access_key]" in pane
