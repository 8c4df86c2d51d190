from django.apps import AppConfig


class TracingConfig(AppConfig):
    name = "tracing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from tracing import checks  # noqa: F401  (registers system checks)
