from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from channels_app.engine.signals import conversation_closed, conversation_created
        from crm.receivers import create_automatic_lead, send_transcript_on_close

        conversation_created.connect(create_automatic_lead, dispatch_uid="crm.create_automatic_lead")
        conversation_closed.connect(send_transcript_on_close, dispatch_uid="crm.send_transcript_on_close")
