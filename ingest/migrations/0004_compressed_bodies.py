"""Request bodies are stored zstd-compressed (ingest.bodies): the compression and the size as
received. PostgreSQL stores the compressed body as it is (STORAGE EXTERNAL: no second
compression attempt on bytes that do not compress); bodies stored before keep theirs."""
from django.db import migrations, models


def set_storage(storage):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE ingest_ingestbatch ALTER COLUMN body SET STORAGE {storage}")

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('ingest', '0003_project_fk_without_own_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='ingestbatch',
            name='body_bytes',
            field=models.PositiveIntegerField(null=True),
        ),
        migrations.AddField(
            model_name='ingestbatch',
            name='compression',
            field=models.CharField(blank=True, db_default='', default='', max_length=10),
        ),
        migrations.RunPython(set_storage("EXTERNAL"), set_storage("EXTENDED"), elidable=True),
    ]
