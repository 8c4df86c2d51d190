"""Each feature keeps its routes in its own urls_<feature>.py; this module only joins them."""
from django.urls import path

from dashboards import urls_diff_spend, urls_explorer, urls_exports, urls_settings, views

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/ingest/", views.ingest_health, name="ingest-health"),
    path("p/<slug:slug>/ingest/<int:batch_id>/redrive/", views.redrive_batch, name="redrive-batch"),
]
urlpatterns += urls_explorer.urlpatterns + urls_diff_spend.urlpatterns + urls_exports.urlpatterns
urlpatterns += urls_settings.urlpatterns
