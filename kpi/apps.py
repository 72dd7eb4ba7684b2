from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpiConfig(AppConfig):
    name = "kpi"
    verbose_name = _("Response-time KPI")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from channels_app.signals import message_created
        from kpi.receivers import record_responses_on_message

        message_created.connect(record_responses_on_message, dispatch_uid="kpi.record_responses_on_message")
