from django.apps import AppConfig


class CareplanConfig(AppConfig):
    name = "careplan"
