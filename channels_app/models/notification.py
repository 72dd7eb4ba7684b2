"""Notifications that stay until read: a missed response target (K2), a mention in a note, a transfer, a failed
delivery. One row per recipient; :mod:`channels_app.engine.notifications` writes and reads them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_app.models.conversation import Conversation

NOTIFICATION_TEXT_MAX_LENGTH = 300


class Notification(models.Model):
    """Something one person should look at in a conversation, kept until they mark it read."""

    class Kind(models.TextChoices):
        K2_MISS = "k2_miss", _("Missed response target")
        MENTION = "mention", _("Mentioned in a note")
        TRANSFER = "transfer", _("Transferred to you")
        DELIVERY_FAILED = "delivery_failed", _("Message not delivered")

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", on_delete=models.CASCADE)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    conversation = models.ForeignKey(Conversation, related_name="+", on_delete=models.CASCADE)
    message_id = models.BigIntegerField(null=True, blank=True)
    note_id = models.BigIntegerField(null=True, blank=True)
    text = models.CharField(max_length=NOTIFICATION_TEXT_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "created_at"], name="notification_inbox")]

    def __str__(self) -> str:
        return f"{self.kind} for #{self.recipient_id} on #{self.conversation_id}"
