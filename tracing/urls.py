from django.contrib.auth import views as auth_views
from django.urls import include, path

from ingest.views import otlp_traces

urlpatterns = [
    path("v1/traces", otlp_traces, name="otlp-traces"),
    path("api/public/otel/v1/traces", otlp_traces, name="otlp-traces-langfuse"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("dashboards.urls")),
]
