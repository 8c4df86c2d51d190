from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboards import accounts

from ingest.views import otlp_traces

urlpatterns = [
    path("v1/traces", otlp_traces, name="otlp-traces"),
    path("api/public/otel/v1/traces", otlp_traces, name="otlp-traces-langfuse"),
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("account/password/", accounts.PasswordChangeView.as_view(), name="password-change"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("dashboards.urls")),
]
