from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    """Its own app label so its tables (the daily rollups) and migrations are its own."""

    name = "web.dashboards"
    label = "dashboards"
    default_auto_field = "django.db.models.BigAutoField"
