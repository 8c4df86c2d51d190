"""A step's content columns (tracing.json_columns: PostgreSQL `json`, not `jsonb`) give back exactly
the values written, by COPY and by the ORM, read whole or through Django's values()."""
import pytest
from django.db import connection

from tracing import bulk
from tracing.json_columns import ContentJSONField
from tracing.models import Step

pytestmark = pytest.mark.django_db
CONTENT = [f.name for f in Step._meta.concrete_fields if isinstance(f, ContentJSONField)]
VALUES = {
    "input": [{"role": "user", "parts": [{"type": "text", "content": "é 中文 🚀 \"q\" \\ \u2028"}]}],
    "output": "42",  # a JSON string that is itself JSON: must come back a string, not decoded twice
    "tool_arguments": {"z": 1, "a": [1.5, None, True, 2**62], "nested": {"b": "", "a": {}}},
    "tool_result": "[1, 2]",
    "system_instructions": None,
    "tool_definitions": [],
    "tool_calls": [{"name": "get_weather", "arguments": "{\"city\": \"Lisbon\"}"}],
    "metadata": {"k": "v"},
    "attributes": {"gen_ai.x": 1e-300},
    "raw": {"attributes": {"gen_ai.response.id": "resp_1"}, "scope": {"name": "openai"}},
}


def step(project, span_id):
    return Step(project=project, trace_id="a" * 32, span_id=span_id, name="x", start_ns=1, end_ns=2, **VALUES)


def test_content_columns_are_the_steps_content_fields():
    assert set(VALUES) == set(CONTENT)


def test_content_comes_back_as_written_by_copy_and_by_the_orm(project):
    bulk.insert(Step, [step(project, "1" * 16)])  # COPY on PostgreSQL
    step(project, "2" * 16).save()
    for span_id in ("1" * 16, "2" * 16):
        whole = Step.objects.get(span_id=span_id)
        assert {c: getattr(whole, c) for c in CONTENT} == VALUES
        assert Step.objects.filter(span_id=span_id).values(*CONTENT).get() == VALUES
    assert Step.objects.get(span_id="1" * 16).received()["scope"] == {"name": "openai"}


@pytest.mark.pg_only
def test_on_postgresql_they_are_stored_as_json_not_jsonb(project):
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname, atttypid::regtype::text FROM pg_attribute "
                       "WHERE attrelid = 'tracing_step'::regclass AND attname = ANY(%s)", [CONTENT])
        assert dict(cursor.fetchall()) == dict.fromkeys(CONTENT, "json")
