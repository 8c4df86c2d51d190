from django.urls import path

from dashboards import explorer_views

urlpatterns = [
    path("p/<slug:slug>/runs/", explorer_views.runs_list, name="runs"),
    path("p/<slug:slug>/runs/<str:trace_id>/", explorer_views.run_detail, name="run"),
]
