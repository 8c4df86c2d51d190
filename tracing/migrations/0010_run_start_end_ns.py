# Run.start_ns / end_ns: what a run that only gains steps needs to move its start and end exactly
# (tracing.run_growth). NULL on older rows: those are rebuilt from their steps the next time.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tracing', '0009_project_fk_without_own_index'),
    ]

    operations = [
        migrations.AddField(model_name='run', name='start_ns', field=models.BigIntegerField(blank=True, null=True)),
        migrations.AddField(model_name='run', name='end_ns', field=models.BigIntegerField(blank=True, null=True)),
    ]
