"""Issue 19, point 1: an export of one client's or one CRM contact's personal data, built in the background.

The archive (a ZIP with ``data.json`` and the files) lives in Django's default storage under a random name in
``exports/``; nothing serves that folder: administrators download it through one checked view, until
``expires_at``, after which a sweep deletes it (:mod:`channels_app.engine.exports`, decision 0021).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class DataExport(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being prepared")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    public_id = models.UUIDField(_("export id"), default=uuid.uuid4, unique=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    # Exactly one subject; SET_NULL so that an erasure removing the client leaves the row (and the audit) intact.
    client = models.ForeignKey(
        "Client", verbose_name=_("client"), related_name="+", null=True, blank=True, on_delete=models.SET_NULL
    )
    contact = models.ForeignKey(
        "crm.Contact",
        verbose_name=_("CRM contact"),
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    # The archive's name in the default storage ("exports/<32 hex>.zip"); empty until ready and after expiry.
    file = models.CharField(_("archive"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    expires_at = models.DateTimeField(_("link expires"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("data export")
        verbose_name_plural = _("data exports")
        ordering = ["-created_at", "-id"]
        constraints = [
            # At creation exactly one subject; afterwards an erasure may have emptied it (SET_NULL), never both set.
            models.CheckConstraint(
                condition=~(Q(client__isnull=False) & Q(contact__isnull=False)), name="data_export_one_subject"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="data_export_progress_at_most_100"),
        ]

    def __str__(self) -> str:
        return str(self.public_id)

    @property
    def download_url(self) -> str:
        """Where an administrator downloads the archive (the view checks who asks and whether it expired)."""
        return reverse("privacy-export-download", args=[self.public_id])

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED, self.Status.EXPIRED)
