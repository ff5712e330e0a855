from django.urls import path

from web.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.index, name="index"),
    path("service-user/<id:su_id>/", views.service_user_page, name="service-user"),
    path("service-user/<id:su_id>/today.json", views.service_user_today, name="su-today"),
    path("service-user/<id:su_id>/export.csv", views.service_user_csv, name="su-csv"),
    path("service-user/<id:su_id>/summary/", views.summary_page, name="su-summary"),
    path("provider/", views.provider_page, name="provider"),
    path("provider/today.json", views.provider_today, name="provider-today"),
    path("provider/export.csv", views.provider_csv, name="provider-csv"),
    path("council/", views.council_page, name="council"),
    path("council/export.csv", views.council_csv, name="council-csv"),
]
