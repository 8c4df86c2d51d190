# Step.cache_savings_usd: priced at index time (tracing.indexer); NULL on older rows, which tracing.spend prices itself.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tracing', '0007_search_documents'),
    ]

    operations = [
        migrations.AddField(
            model_name='step',
            name='cache_savings_usd',
            field=models.DecimalField(blank=True, decimal_places=10, max_digits=20, null=True),
        ),
    ]
