"""The audit log of access to personal data (issue 19): who exported or erased a client's data, who changed how
long an open channel keeps conversations, and who opened a conversation's transcript outside their own work.
:mod:`channels_app.engine.audit` writes it, inside the transaction of what it records; nothing edits a row."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    EXPORT_REQUESTED = "export_requested", _("Data export requested")
    EXPORT_DOWNLOADED = "export_downloaded", _("Data export downloaded")
    CLIENT_ERASED = "client_erased", _("Client's data erased")
    CONTACT_ERASED = "contact_erased", _("CRM contact's data erased")
    RETENTION_CHANGED = "retention_changed", _("Retention changed")
    RETENTION_SWEPT = "retention_swept", _("Conversations erased by retention")
    CONSENT_WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
    TRANSCRIPT_OPENED = "transcript_opened", _("Transcript opened")


class AuditEvent(models.Model):
    """One access to personal data. The actor's name is copied, so the row still says who after the account is
    deleted; ``actor`` is empty for the system (a retention sweep). The client is named by id only: the log must
    not keep what an erasure removes."""

    at = models.DateTimeField(_("when"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account"),
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    actor_name = models.CharField(_("who"), max_length=150, blank=True)
    action = models.CharField(_("what"), max_length=32, choices=AuditAction.choices)
    open_channel = models.ForeignKey("OpenChannel", related_name="+", null=True, blank=True, on_delete=models.SET_NULL)
    client_id_ref = models.BigIntegerField(_("client id"), null=True, blank=True, db_index=True)
    contact_id_ref = models.BigIntegerField(_("CRM contact id"), null=True, blank=True)
    conversation_id_ref = models.BigIntegerField(_("conversation id"), null=True, blank=True)
    # Plain facts without personal data: counts, old and new settings, the export's id.
    detail = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit log entries")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action}"
