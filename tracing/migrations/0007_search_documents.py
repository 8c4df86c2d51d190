"""Full-text search moves from one document per step (Step.search_text, indexed by a GIN expression
index over to_tsvector, or an FTS5 table kept by triggers on tracing_step) to SearchDocument: the
distinct words of a run's steps, per indexing transaction (tracing/search.py). Backfilled from
the stored steps.

PostgreSQL: `words` is a tsvector with a plain GIN index (lz4-compressed where available).
SQLite: an external-content FTS5 table on tracing_searchdocument, kept by insert/delete triggers.
The old triggers and FTS table go first: SQLite cannot drop a column that triggers read.
"""
from collections import defaultdict

import django.db.models.deletion
from django.db import migrations, models

import tracing.search_models

OLD_FTS = "tracing_step_fts"
FTS = "tracing_searchdocument_fts"

DROP_OLD = {
    "postgresql": ["DROP INDEX IF EXISTS step_search_gin"],
    "sqlite": ["DROP TRIGGER IF EXISTS tracing_step_fts_ai", "DROP TRIGGER IF EXISTS tracing_step_fts_ad",
               "DROP TRIGGER IF EXISTS tracing_step_fts_au", f"DROP TABLE IF EXISTS {OLD_FTS}"],
}
CREATE_NEW = {
    "postgresql": ["CREATE INDEX IF NOT EXISTS search_doc_gin ON tracing_searchdocument USING gin (words)"],
    "sqlite": [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5("
        "words, content='tracing_searchdocument', content_rowid='id', tokenize='unicode61')",
        f"CREATE TRIGGER IF NOT EXISTS {FTS}_ai AFTER INSERT ON tracing_searchdocument BEGIN "
        f"INSERT INTO {FTS}(rowid, words) VALUES (new.id, new.words); END",
        f"CREATE TRIGGER IF NOT EXISTS {FTS}_ad AFTER DELETE ON tracing_searchdocument BEGIN "
        f"INSERT INTO {FTS}({FTS}, rowid, words) VALUES ('delete', old.id, old.words); END",
        f"CREATE TRIGGER IF NOT EXISTS {FTS}_au AFTER UPDATE ON tracing_searchdocument BEGIN "
        f"INSERT INTO {FTS}({FTS}, rowid, words) VALUES ('delete', old.id, old.words); "
        f"INSERT INTO {FTS}(rowid, words) VALUES (new.id, new.words); END",
        f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
    ],
}
DROP_NEW = {
    "postgresql": ["DROP INDEX IF EXISTS search_doc_gin"],
    "sqlite": [f"DROP TRIGGER IF EXISTS {FTS}_ai", f"DROP TRIGGER IF EXISTS {FTS}_ad",
               f"DROP TRIGGER IF EXISTS {FTS}_au", f"DROP TABLE IF EXISTS {FTS}"],
}


def _run(statements):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)
    return run


def lz4_words(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
        if cursor.fetchone():
            cursor.execute("ALTER TABLE tracing_searchdocument ALTER COLUMN words SET COMPRESSION lz4")


def backfill(apps, schema_editor):
    """One document per stored run, from its steps (before the FTS table exists: 'rebuild' then
    indexes all), inserted 500 runs at a time."""
    from tracing.search import CONTENT_FIELDS, documents, step_words

    Step = apps.get_model("tracing", "Step")
    SearchDocument = apps.get_model("tracing", "SearchDocument")
    project, words = None, defaultdict(set)

    def flush():
        SearchDocument.objects.bulk_create([SearchDocument(project_id=project, trace_id=d.trace_id, words=d.words)
                                            for d in documents(project, words)])
        words.clear()

    steps = Step.objects.order_by("project_id", "trace_id").only("project_id", "trace_id", *CONTENT_FIELDS)
    for step in steps.iterator(chunk_size=500):  # a run's steps are consecutive: flush only between runs
        if words and (step.project_id != project or (step.trace_id not in words and len(words) >= 500)):
            flush()
        project = step.project_id
        words[step.trace_id] |= step_words(step)
    if words:
        flush()


class Migration(migrations.Migration):

    dependencies = [
        ('tracing', '0006_saved_views'),
        ('ingest', '0002_lz4_toast_compression'),  # it sets the compression of step.search_text, dropped here
    ]

    operations = [
        migrations.RunPython(_run(DROP_OLD), migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='step',
            name='search_text',
        ),
        migrations.CreateModel(
            name='SearchDocument',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('trace_id', models.CharField(max_length=32)),
                ('words', tracing.search_models.WordsField()),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tracing.project')),
            ],
            options={
                'indexes': [models.Index(fields=['project', 'trace_id'], name='search_doc_trace')],
            },
        ),
        migrations.RunPython(lz4_words, migrations.RunPython.noop),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(_run(CREATE_NEW), _run(DROP_NEW)),
    ]
