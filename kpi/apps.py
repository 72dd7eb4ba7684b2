from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpiConfig(AppConfig):
    name = "kpi"
    verbose_name = _("Response-time KPI")
    default_auto_field = "django.db.models.BigAutoField"
