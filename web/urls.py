from django.contrib.auth import views as auth_views
from django.urls import include, path

from web import (
    pwa,
    views,
    views_concerns,
    views_escalation,
    views_goals,
    views_invite,
    views_keyinfo,
    views_manager,
    views_matrix,
    views_push,
    views_record_reads,
)
from web.staff import views as staff_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("favicon.ico", pwa.favicon, name="favicon"),
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
    path("invite/<str:token>/", views_invite.accept, name="invite"),
    path("concerns/", views_concerns.my_concerns_page, name="my_concerns"),
    path("people/<id:su_id>/<str:tab>/search/", views.room_search, name="room_search"),
    path("me/matrix/", views_matrix.my_matrix, name="my_matrix"),
    path("me/notifications/", views_push.notifications, name="notifications"),
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
