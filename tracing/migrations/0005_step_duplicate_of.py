"""Step.duplicate_of: the span id of the LLM step a duplicate span describes again (tracing/dedupe.py).

On SQLite the column is added with a plain ALTER TABLE ADD COLUMN: Django's schema editor would
rebuild tracing_step for a NOT NULL column (copy, drop, rename), which drops the full-text search
triggers of migration 0003 and copies every step. Elsewhere Django adds it as usual (PostgreSQL:
ADD COLUMN with a constant default, no table rewrite)."""

from django.db import migrations, models


class AddFieldInPlaceOnSQLite(migrations.AddField):
    """AddField that never rebuilds the table on SQLite (the field must have a constant default)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != 'sqlite':
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        definition, params = schema_editor.column_sql(model, field, include_default=True)
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(model._meta.db_table)} "
            f"ADD COLUMN {schema_editor.quote_name(field.column)} {definition}", params)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != 'sqlite':
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(model._meta.db_table)} "
            f"DROP COLUMN {schema_editor.quote_name(field.column)}")


class Migration(migrations.Migration):

    dependencies = [
        ('tracing', '0004_spend_buckets'),
    ]

    operations = [
        AddFieldInPlaceOnSQLite(
            model_name='step',
            name='duplicate_of',
            field=models.CharField(blank=True, default='', max_length=16),
        ),
    ]
