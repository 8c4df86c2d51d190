"""PostgreSQL: compress the large columns (raw batch bodies, step content) with lz4 instead of pglz.

pglz cost ~85 ms to store one 1.5 MB request body in the intake request, and about a third of the
database's work per indexed span; lz4 is several times faster to compress and to read back, for
a few percent more disk. Only new values are affected (no table rewrite). A no-op on SQLite and
on a PostgreSQL without lz4 (before 14, or built without it). See docs/performance.md.
"""
from django.db import migrations

COLUMNS = {
    "ingest_ingestbatch": ["body"],
    "tracing_step": ["input", "output", "system_instructions", "tool_definitions", "reasoning", "tool_calls",
                     "tool_arguments", "tool_result", "metadata", "error_message", "attributes", "raw",
                     "search_text", "cost_note", "cost_breakdown"],
}


def _lz4_available(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
    return cursor.fetchone() is not None


def set_compression(method):
    def run(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            if not _lz4_available(cursor):
                return
            quote = schema_editor.quote_name
            for table, columns in COLUMNS.items():
                for column in columns:
                    cursor.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} SET COMPRESSION {method}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0001_initial"),
        ("tracing", "0004_spend_buckets"),  # tracing_step.search_text exists
    ]

    operations = [migrations.RunPython(set_compression("lz4"), set_compression("default"), elidable=True)]
