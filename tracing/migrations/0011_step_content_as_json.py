"""Step content columns: PostgreSQL `json` instead of `jsonb` (tracing/json_columns.py says why).

One ALTER TABLE rewrites tracing_step once, holding its lock meanwhile: on a large installation,
expect it to take as long as copying the table; intake keeps accepting spans, which are indexed
once it is done. Their lz4 compression (ingest 0002) is set again after the rewrite. SQLite: no
change to the database (JSON is text there either way).
"""
from django.db import migrations

import tracing.json_columns

COLUMNS = [("input", None, True), ("output", None, True), ("system_instructions", None, True),
           ("tool_definitions", None, True), ("tool_calls", list, False), ("tool_arguments", None, True),
           ("tool_result", None, True), ("metadata", dict, False), ("attributes", dict, False), ("raw", dict, False)]


def retype(to):
    def run(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE tracing_step " + ", ".join(
                f"ALTER COLUMN {quote(c)} TYPE {to} USING {quote(c)}::{to}" for c, _, _ in COLUMNS))
            cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
            if cursor.fetchone():
                cursor.execute("ALTER TABLE tracing_step " + ", ".join(
                    f"ALTER COLUMN {quote(c)} SET COMPRESSION lz4" for c, _, _ in COLUMNS))

    return run


def _field(default, null):
    kwargs = {"blank": True, "null": True} if null else {"blank": True, "default": default}
    return tracing.json_columns.ContentJSONField(**kwargs)


class Migration(migrations.Migration):

    dependencies = [
        ('tracing', '0010_run_start_end_ns'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AlterField(model_name='step', name=c, field=_field(default, null))
                              for c, default, null in COLUMNS],
            database_operations=[migrations.RunPython(retype("json"), retype("jsonb"))],
        ),
    ]
