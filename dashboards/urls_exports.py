from django.urls import path

from dashboards import api_exports, exports_views

urlpatterns = [
    path("p/<slug:slug>/runs/<str:trace_id>/export", exports_views.run_export, name="run-export"),
    path("p/<slug:slug>/export/", exports_views.bulk_export, name="bulk-export"),
    path("p/<slug:slug>/import/", exports_views.import_upload, name="import-runs"),
    path("p/<slug:slug>/connect/", exports_views.connect, name="connect"),
    path("p/<slug:slug>/connect/status/", exports_views.connect_status, name="connect-status"),
    path("api/v1/runs/<str:trace_id>/export", api_exports.run_export, name="api-run-export"),
    path("api/v1/export", api_exports.bulk_export, name="api-bulk-export"),
]
