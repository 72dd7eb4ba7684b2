"""Conversations answered under one (channel, operator, day) counted in the day rows (0006 refills the rollup)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0008_supervisor_notes_and_actors"),
        ("kpi", "0004_fill_day_rollup"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="kpiconversationday",
            name="kpi_conversation_day_by_day",
        ),
        migrations.AddField(
            model_name="kpiconversationday",
            name="also_elsewhere",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="kpiday",
            name="conversations_only_here",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name="kpiconversationday",
            index=models.Index(
                condition=models.Q(("also_elsewhere", True)),
                fields=["open_channel", "day"],
                include=("operator", "conversation"),
                name="kpi_conversation_day_shared",
            ),
        ),
        migrations.AddIndex(
            model_name="kpiconversationday",
            index=models.Index(
                condition=models.Q(("also_elsewhere", False)),
                fields=["day", "open_channel"],
                include=("operator",),
                name="kpi_conversation_day_alone",
            ),
        ),
    ]
