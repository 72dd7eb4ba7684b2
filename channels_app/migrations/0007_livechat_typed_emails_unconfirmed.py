"""Issue 13: addresses live-chat visitors typed before are unconfirmed too.

Until now an address typed into the widget (the transcript request) went straight into ``Client.email``, the
field the CRM matches contacts by and leads are joined through. Nothing else wrote e-mails of live-chat
clients, so every such address moves to ``unverified_email``; its owner confirms it through the link mailed
with their next transcript. Messenger clients' addresses come from their provider and stay.
"""

from django.db import migrations
from django.db.models import F


def typed_emails_unconfirmed(apps, schema_editor):
    Client = apps.get_model("channels_app", "Client")
    Client.objects.filter(connector__kind="livechat").exclude(email="").update(unverified_email=F("email"), email="")


def typed_emails_confirmed_again(apps, schema_editor):
    Client = apps.get_model("channels_app", "Client")
    Client.objects.filter(connector__kind="livechat", email="").exclude(unverified_email="").update(
        email=F("unverified_email"), unverified_email=""
    )


class Migration(migrations.Migration):
    dependencies = [("channels_app", "0006_encrypt_connector_secrets")]

    operations = [migrations.RunPython(typed_emails_unconfirmed, typed_emails_confirmed_again)]
