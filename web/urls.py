from django.contrib.auth import views as auth_views
from django.urls import include, path

from web import (
    views,
    views_audit,
    views_concerns,
    views_escalation,
    views_exceptions,
    views_goals,
    views_invite,
    views_keyinfo,
    views_manager,
    views_matrix,
    views_patterns,
    views_planning,
    views_record_reads,
    views_retention,
)
from web.staff import views as staff_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("dashboards/", include("web.dashboards.urls")),
    path("", views.home, name="home"),
    path("people/<id:su_id>/", views.service_user, name="service_user"),
    path("people/<id:su_id>/key-info/", views_keyinfo.key_info, name="key_info"),
    path("people/<id:su_id>/goals/", views_goals.goals, name="goals"),
    path("people/<id:su_id>/<str:tab>/", views.room, name="room"),
    path("people/<id:su_id>/manage/members/", views_manager.members, name="members"),
    path(
        "people/<id:su_id>/manage/invitations/<id:invitation_id>/cancel",
        views_manager.invitation_cancel,
        name="invitation_cancel",
    ),
    path(
        "people/<id:su_id>/manage/rooms/<id:room_id>/members/<id:person_id>/remove",
        views_manager.member_remove,
        name="member_remove",
    ),
    path(
        "people/<id:su_id>/manage/members/<id:person_id>/<str:action>",
        views_manager.member_basis,
        name="member_basis",
    ),
    path("people/<id:su_id>/manage/visits/", views_manager.visits, name="visits"),
    path(
        "people/<id:su_id>/manage/record-reads/",
        views_record_reads.record_reads_page,
        name="record_reads",
    ),
    path("alerts/", views_manager.inbox, name="inbox"),
    path("alerts/<id:alert_id>/", views_manager.alert_page, name="alert"),
    path("alerts/<id:alert_id>/<str:action>", views_manager.alert_action, name="alert_action"),
    path("exceptions/", views_manager.exceptions, name="exceptions"),
    path("escalation/rota/", views_escalation.rota_page, name="escalation_rota"),
    path(
        "escalation/rota/<id:shift_id>/remove",
        views_escalation.rota_remove,
        name="escalation_rota_remove",
    ),
    path("escalation/policy/", views_escalation.policy_page, name="escalation_policy"),
    path(
        "exceptions/<str:kind>/<id:failure_id>/reviewed",
        views_manager.failure_reviewed,
        name="failure_reviewed",
    ),
    path(
        "exceptions/visits/<id:visit_id>/location-review",
        views_exceptions.review_location,
        name="review_location",
    ),
    path(
        "people/<id:su_id>/manage/location-exemption",
        views_exceptions.location_exemption,
        name="location_exemption",
    ),
    path("planning/import/", views_planning.planned_import, name="planned_import"),
    path("people/<id:su_id>/manage/patterns/", views_patterns.patterns, name="patterns"),
    path(
        "people/<id:su_id>/manage/patterns/<id:pattern_id>/end",
        views_patterns.pattern_end,
        name="pattern_end",
    ),
    path("people/<id:su_id>/manage/reference", views_planning.set_reference, name="set_reference"),
    path("retention/", views_retention.retention_page, name="retention"),
    path("retention/policy", views_retention.retention_policy, name="retention_policy"),
    path(
        "retention/holds/<id:su_id>/<str:action>",
        views_retention.legal_hold,
        name="legal_hold",
    ),
    path("audit/", views_audit.audit_page, name="audit"),
    path("audit/export.csv", views_audit.audit_export, name="audit_export"),
    path("invite/<str:token>/", views_invite.accept, name="invite"),
    path("concerns/", views_concerns.my_concerns_page, name="my_concerns"),
    path("people/<id:su_id>/<str:tab>/search/", views.room_search, name="room_search"),
    path("me/matrix/", views_matrix.my_matrix, name="my_matrix"),
    path(
        "people/<id:su_id>/manage/matrix/<id:person_id>/",
        views_matrix.member_matrix,
        name="member_matrix",
    ),
    path("bridge/", views_matrix.bridge_status, name="bridge_status"),
    # Organisation set-up (web/staff): staff for administrators, service users for a
    # provider's administrator or care managers.
    path("org/staff/", staff_views.staff, name="admin_staff"),
    path("org/staff/<id:person_id>/role", staff_views.staff_role, name="admin_staff_role"),
    path(
        "org/staff/<id:person_id>/deactivate",
        staff_views.staff_deactivate,
        name="admin_staff_deactivate",
    ),
    path(
        "org/staff/invitations/<id:invitation_id>/cancel",
        staff_views.staff_invitation_cancel,
        name="admin_staff_invitation_cancel",
    ),
    path("org/service-users/", staff_views.service_users, name="admin_service_users"),
    path("org/service-users/<id:su_id>/", staff_views.service_user, name="admin_service_user"),
    path(
        "org/service-users/<id:su_id>/archive",
        staff_views.service_user_archive,
        name="admin_service_user_archive",
    ),
    path(
        "org/service-users/<id:su_id>/team",
        staff_views.service_user_team,
        name="admin_service_user_team",
    ),
    path(
        "org/service-users/<id:su_id>/account",
        staff_views.service_user_account,
        name="admin_service_user_account",
    ),
]
