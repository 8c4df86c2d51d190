"""Full-text search over step content (tracing/search.py): Step.search_text, a GIN index on
PostgreSQL, an external-content FTS5 table kept by triggers on SQLite. Backfills existing steps."""
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
    from tracing.search import document

    Step = apps.get_model("tracing", "Step")
    batch = []
    for step in Step.objects.order_by("id").iterator(chunk_size=500):
        step.search_text = document(step)
        batch.append(step)
        if len(batch) == 500:
            Step.objects.bulk_update(batch, ["search_text"])
            batch = []
    Step.objects.bulk_update(batch, ["search_text"])


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
