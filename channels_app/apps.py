from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Open channels")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the layers together: tasks under their names, signal receivers, what ``migrate`` keeps in step."""
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

        from channels_app import tasks  # noqa: F401  (registers every task under its engine.jobs name)
        from channels_app.bots.services import enqueue_bot_turn
        from channels_app.connectors.processing import enqueue_outbound_message
        from channels_app.engine import access, attachments, operators, queue
        from channels_app.engine.roles import sync_roles
        from channels_app.engine.signals import message_created
        from channels_app.models import (
            Attachment,
            Holiday,
            LeavePeriod,
            OpenChannel,
            OperatorProfile,
            QueueMember,
            WorkingPeriod,
        )
        from channels_app.periodic import sync_periodic_tasks

        message_created.connect(enqueue_outbound_message, dispatch_uid="channels_app.connectors.outbound")
        message_created.connect(enqueue_bot_turn, dispatch_uid="channels_app.bots.turns")
        # Consoles re-check what their operator may see as soon as it changes.
        pre_save.connect(access.on_queue_member_saving, sender=QueueMember, dispatch_uid="access.queue_saving")
        post_save.connect(access.on_queue_member_changed, sender=QueueMember, dispatch_uid="access.queue_saved")
        post_delete.connect(access.on_queue_member_changed, sender=QueueMember, dispatch_uid="access.queue_deleted")
        post_save.connect(access.on_user_saved, sender=get_user_model(), dispatch_uid="access.user_saved")
        pre_delete.connect(access.on_user_deleting, sender=get_user_model(), dispatch_uid="access.user_deleting")
        post_delete.connect(
            access.on_operator_profile_deleted, sender=OperatorProfile, dispatch_uid="access.profile_deleted"
        )
        # Q10: an operator who stops answering (leave, deleted profile; access covers dismissal and leaving a
        # queue) has their conversations returned to the queue at once.
        post_save.connect(operators.on_leave_period_saved, sender=LeavePeriod, dispatch_uid="operators.leave_saved")
        post_delete.connect(
            operators.on_operator_profile_deleted, sender=OperatorProfile, dispatch_uid="operators.profile_deleted"
        )
        post_save.connect(access.on_open_channel_saved, sender=OpenChannel, dispatch_uid="access.channel_saved")
        m2m_changed.connect(
            access.on_supervisors_changed, sender=OpenChannel.supervisors.through, dispatch_uid="access.supervisors"
        )
        # Issue 16, point 10: a change of routing configuration re-decides the channel's waiting conversations at once.
        pre_save.connect(queue.on_open_channel_saving, sender=OpenChannel, dispatch_uid="queue.channel_saving")
        post_save.connect(queue.on_open_channel_saved, sender=OpenChannel, dispatch_uid="queue.channel_saved")
        post_save.connect(queue.on_queue_member_saved, sender=QueueMember, dispatch_uid="queue.member_saved")
        for model in (WorkingPeriod, Holiday):
            post_save.connect(queue.on_calendar_changed, sender=model, dispatch_uid=f"queue.{model.__name__}_saved")
            post_delete.connect(queue.on_calendar_changed, sender=model, dispatch_uid=f"queue.{model.__name__}_deleted")
        # A file's bytes go with its row (a conversation deleted, an erasure), once the delete commits.
        post_delete.connect(attachments.on_attachment_deleted, sender=Attachment, dispatch_uid="attachments.deleted")
        post_migrate.connect(sync_periodic_tasks, sender=self, dispatch_uid="channels_app.sync_periodic_tasks")
        # After the last app's post_migrate: by then every app's permissions exist.
        last_app = list(apps.get_app_configs())[-1]
        post_migrate.connect(sync_roles, sender=last_app, dispatch_uid="channels_app.sync_roles")
