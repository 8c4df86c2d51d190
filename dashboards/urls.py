from django.urls import path

from dashboards import views

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/runs/", views.runs_list, name="runs"),
    path("p/<slug:slug>/runs/<str:trace_id>/", views.run_detail, name="run"),
]
