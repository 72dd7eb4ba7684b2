from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Open channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from channels_app.periodic import sync_periodic_tasks
        from channels_app.roles import sync_roles

        post_migrate.connect(sync_periodic_tasks, sender=self, dispatch_uid="channels_app.sync_periodic_tasks")
        # Connected without a sender: it must run after the last app's permissions exist.
        post_migrate.connect(sync_roles, dispatch_uid="channels_app.sync_roles")
