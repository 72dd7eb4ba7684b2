from django.apps import AppConfig


class KpiConfig(AppConfig):
    name = "kpi"
    default_auto_field = "django.db.models.BigAutoField"
