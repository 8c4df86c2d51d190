from django.urls import path

from dashboards import api_diff_spend, diff_spend_views

urlpatterns = [
    path("p/<slug:slug>/diff/", diff_spend_views.diff_page, name="diff"),
    path("p/<slug:slug>/spend/", diff_spend_views.spend_page, name="spend"),
    path("api/v1/diff", api_diff_spend.api_diff, name="api-diff"),
    path("api/v1/spend", api_diff_spend.api_spend, name="api-spend"),
]
