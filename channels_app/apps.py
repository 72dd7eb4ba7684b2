from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Open channels")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the layers together: tasks under their names, signal receivers, what ``migrate`` keeps in step."""
        from channels_app import tasks  # noqa: F401  (registers every task under its engine.jobs name)
        from channels_app.bots.services import enqueue_bot_turn
        from channels_app.connectors.processing import enqueue_outbound_message
        from channels_app.engine.roles import sync_roles
        from channels_app.engine.signals import message_created
        from channels_app.periodic import sync_periodic_tasks

        message_created.connect(enqueue_outbound_message, dispatch_uid="channels_app.connectors.outbound")
        message_created.connect(enqueue_bot_turn, dispatch_uid="channels_app.bots.turns")
        post_migrate.connect(sync_periodic_tasks, sender=self, dispatch_uid="channels_app.sync_periodic_tasks")
        # After the last app's post_migrate: by then every app's permissions exist.
        last_app = list(apps.get_app_configs())[-1]
        post_migrate.connect(sync_roles, sender=last_app, dispatch_uid="channels_app.sync_roles")
