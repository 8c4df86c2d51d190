"""Helpers shared by migrations of both apps."""
from __future__ import annotations


def drop_project_only_indexes(model_names: list[str]):
    """(forward, backward) RunPython functions: drop, on each model's table, the non-unique indexes
    on (project_id) alone (the ones Django creates for a ForeignKey, left redundant by indexes
    leading with project); backward, create Django's one again."""
    def run(apps, schema_editor):
        connection = schema_editor.connection
        with connection.cursor() as cursor:
            for name in model_names:
                model = next(m for m in apps.get_models() if m._meta.model_name == name)
                table = model._meta.db_table
                for index, info in connection.introspection.get_constraints(cursor, table).items():
                    if (info["index"] and not info["unique"] and not info["primary_key"]
                            and info["columns"] == ["project_id"]):
                        schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(index)}")

    def back(apps, schema_editor):
        for name in model_names:
            model = next(m for m in apps.get_models() if m._meta.model_name == name)
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[model._meta.get_field("project")]))
    return run, back
