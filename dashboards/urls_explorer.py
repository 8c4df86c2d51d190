from django.urls import path

from dashboards import api_runs, explorer_views, saved_views

urlpatterns = [
    path("p/<slug:slug>/runs/", explorer_views.runs_list, name="runs"),
    path("p/<slug:slug>/runs/<str:trace_id>/", explorer_views.run_detail, name="run"),
    path("p/<slug:slug>/runs/<str:trace_id>/steps/<str:span_id>/", explorer_views.run_step, name="run-step"),
    path("p/<slug:slug>/runs/<str:trace_id>/steps/<str:span_id>/value/", explorer_views.step_value,
         name="run-step-value"),
    path("p/<slug:slug>/session/", explorer_views.session_detail, name="session"),  # ?id=: ids may hold any text
    path("api/v1/runs", api_runs.runs_index, name="api-runs"),
    path("api/v1/runs/<str:trace_id>", api_runs.run_detail, name="api-run"),
    path("p/<slug:slug>/views/", saved_views.save_view, name="saved-view-save"),
    path("p/<slug:slug>/views/<int:view_id>/delete/", saved_views.delete_view, name="saved-view-delete"),
]
