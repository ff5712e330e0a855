from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from web import (
    views,
    views_concerns,
    views_invite,
    views_manager,
    views_matrix,
    views_record_reads,
    views_settings,
)

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("dashboards/", include("web.dashboards.urls")),
    path("", views.home, name="home"),
    path("people/<id:su_id>/", views.service_user, name="service_user"),
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
    path(
        "exceptions/<str:kind>/<id:failure_id>/reviewed",
        views_manager.failure_reviewed,
        name="failure_reviewed",
    ),
    path("invite/<str:token>/", views_invite.accept, name="invite"),
    path("concerns/", views_concerns.my_concerns_page, name="my_concerns"),
    path("people/<id:su_id>/<str:tab>/search/", views.room_search, name="room_search"),
    path("me/matrix/", views_matrix.my_matrix, name="my_matrix"),
    path("me/settings/", views_settings.my_settings, name="my_settings"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    # The bots' questions and sentences (locale/*/bots.po, from bots/questionbank/bank.yaml).
    path("jsi18n/bots/", JavaScriptCatalog.as_view(domain="bots"), name="javascript-catalog-bots"),
    path(
        "people/<id:su_id>/manage/matrix/<id:person_id>/",
        views_matrix.member_matrix,
        name="member_matrix",
    ),
    path("bridge/", views_matrix.bridge_status, name="bridge_status"),
]
