from django.urls import path

from careplan import views

app_name = "careplan"

urlpatterns = [
    path("people/<id:su_id>/mar/", views.mar_page, name="mar"),
    path(
        "people/<id:su_id>/mar/records/<id:record_id>/correct",
        views.mar_correct,
        name="mar-correct",
    ),
    path("downloads/", views.downloads_page, name="downloads"),
    path("downloads/payroll.csv", views.payroll_download, name="payroll-csv"),
    path("downloads/council.csv", views.council_download, name="council-csv"),
]
