from django.apps import AppConfig


class TracingConfig(AppConfig):
    name = "tracing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.backends.signals import connection_created

        from tracing import checks, json_columns  # noqa: F401  (registers system checks)

        connection_created.connect(json_columns.register, dispatch_uid="sagatrace-json-as-text")
