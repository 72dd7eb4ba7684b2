from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Open channels")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import channels_app.bots  # registers bot kinds, bot tasks and the bot-turn receiver
        import channels_app.connectors  # noqa: F401  (registers connector tasks and the outbound-send receiver)
        from channels_app.periodic import sync_periodic_tasks
        from channels_app.roles import sync_roles

        post_migrate.connect(sync_periodic_tasks, sender=self, dispatch_uid="channels_app.sync_periodic_tasks")
        # After the last app's post_migrate: by then every app's permissions exist.
        last_app = list(apps.get_app_configs())[-1]
        post_migrate.connect(sync_roles, sender=last_app, dispatch_uid="channels_app.sync_roles")
