"""O5 (issue 16): the connector's registration state, detail and time; the WhatsApp business account id.

``last_error`` only ever held a failed registration, so it becomes ``registration_detail``; the state of
existing rows is read from what they hold (an error: failed; a registration time: registered).
"""

from django.db import migrations, models


def state_from_existing_rows(apps, schema_editor):
    Connector = apps.get_model("channels_app", "Connector")
    Connector.objects.exclude(registration_detail="").update(registration_state="failed")
    Connector.objects.filter(registration_detail="", webhook_registered_at__isnull=False).update(
        registration_state="registered"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0012_transfer_to_unavailable_after_warning"),
    ]

    operations = [
        migrations.RenameField(model_name="connector", old_name="last_error", new_name="registration_detail"),
        migrations.AlterField(
            model_name="connector",
            name="registration_detail",
            field=models.TextField(blank=True, verbose_name="registration detail"),
        ),
        migrations.AddField(
            model_name="connector",
            name="registration_state",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "not registered"),
                    ("pending", "registering…"),
                    ("registered", "registered"),
                    ("by_hand", "to do by hand"),
                    ("failed", "failed"),
                ],
                default="",
                max_length=10,
                verbose_name="registration",
            ),
        ),
        migrations.AddField(
            model_name="connector",
            name="registration_checked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="registration checked at"),
        ),
        migrations.AlterField(
            model_name="connector",
            name="webhook_registered_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="registered at"),
        ),
        migrations.AddField(
            model_name="connector",
            name="business_account_id",
            field=models.CharField(
                blank=True,
                help_text="WhatsApp only: the business account of the phone number, to subscribe the app to it (O5).",
                max_length=64,
                verbose_name="WhatsApp Business Account id",
            ),
        ),
        migrations.RunPython(state_from_existing_rows, migrations.RunPython.noop),
    ]
