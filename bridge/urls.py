"""Appservice routes (spec v1 paths, plus the legacy unprefixed transactions path)."""

from django.urls import path

from bridge import views

urlpatterns = [
    path("_matrix/app/v1/transactions/<str:txn_id>", views.transactions),
    path("_matrix/app/v1/users/<str:user_id>", views.query_user),
    path("_matrix/app/v1/rooms/<str:alias>", views.query_alias),
    path("_matrix/app/v1/ping", views.ping),
    path("transactions/<str:txn_id>", views.transactions),
]
