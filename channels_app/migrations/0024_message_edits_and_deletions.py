from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0023_message_button"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="earlier_texts",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="message",
            name="deleted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
