"""Full-text search over step content (tracing/search.py): Step.search_text, a GIN index on
PostgreSQL, an external-content FTS5 table kept by triggers on SQLite. Superseded by 0007."""
from django.db import migrations, models

FTS = "tracing_step_fts"

POSTGRES = ["CREATE INDEX IF NOT EXISTS step_search_gin ON tracing_step USING gin (to_tsvector('simple', search_text))"]
POSTGRES_REVERSE = ["DROP INDEX IF EXISTS step_search_gin"]
SQLITE = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5("
    "search_text, content='tracing_step', content_rowid='id', tokenize='unicode61')",
    f"CREATE TRIGGER IF NOT EXISTS tracing_step_fts_ai AFTER INSERT ON tracing_step BEGIN "
    f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"CREATE TRIGGER IF NOT EXISTS tracing_step_fts_ad AFTER DELETE ON tracing_step BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    f"CREATE TRIGGER IF NOT EXISTS tracing_step_fts_au AFTER UPDATE OF search_text ON tracing_step BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS tracing_step_fts_ai",
    "DROP TRIGGER IF EXISTS tracing_step_fts_ad",
    "DROP TRIGGER IF EXISTS tracing_step_fts_au",
    f"DROP TABLE IF EXISTS {FTS}",
]


def backfill(apps, schema_editor):
    """Nothing since 0007: Step.search_text is dropped there and the search documents are built from the steps."""


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for sql in statements.get(vendor, []):
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ("tracing", "0002_security"),
    ]

    operations = [
        migrations.AddField(
            model_name="step",
            name="search_text",
            field=models.TextField(blank=True, default=""),
        ),
        # Backfill before the FTS table exists, then 'rebuild' indexes everything at once.
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(
            _run({"postgresql": POSTGRES, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
