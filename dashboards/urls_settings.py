from django.urls import path

from dashboards import settings_views as v

urlpatterns = [
    path("p/<slug:slug>/settings/", v.overview, name="settings"),
    path("p/<slug:slug>/settings/retention/", v.retention, name="settings-retention"),
    path("p/<slug:slug>/settings/keys/", v.keys, name="settings-keys"),
    path("p/<slug:slug>/settings/keys/<int:key_id>/revoke/", v.revoke_key, name="settings-revoke-key"),
    path("p/<slug:slug>/settings/members/", v.members, name="settings-members"),
    path("p/<slug:slug>/settings/members/<int:membership_id>/", v.member_role, name="settings-member-role"),
    path("p/<slug:slug>/settings/redaction/", v.redaction, name="settings-redaction"),
    path("p/<slug:slug>/settings/redaction/<int:rule_id>/delete/", v.delete_rule, name="settings-delete-rule"),
    path("p/<slug:slug>/settings/audit/", v.audit_log, name="settings-audit"),
]
