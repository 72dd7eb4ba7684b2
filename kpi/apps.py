from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpiConfig(AppConfig):
    name = "kpi"
    verbose_name = _("Response-time KPI")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from channels_app.engine.signals import conversations_erasing
        from kpi.services import conversations_erase_texts

        conversations_erasing.connect(conversations_erase_texts, dispatch_uid="kpi.conversations_erase_texts")
