"""CRM: contacts (known clients with a responsible person) and leads (C1–C5)."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# Fewer digits than this are too ambiguous to identify a person by (extensions, typos, partial numbers).
MIN_PHONE_DIGITS = 6


def normalize_phone(phone: str) -> str:
    """A phone number reduced to its digits, so "+48 600-100-200" and "48600100200" match (C1)."""
    digits = re.sub(r"\D", "", phone or "")
    return digits if len(digits) >= MIN_PHONE_DIGITS else ""


class Contact(models.Model):
    """A known person. Clients of any connector link to one contact (C1)."""

    full_name = models.CharField(_("full name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=40, blank=True, db_index=True)
    phone_digits = models.CharField(max_length=40, blank=True, db_index=True, editable=False)
    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible person"),
        related_name="responsible_for_contacts",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        # C4: routing offers a known client to this person first.
        help_text=_("A known client's new conversation is offered to this person first."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args, **kwargs) -> None:
        self.phone_digits = normalize_phone(self.phone)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "phone" in update_fields:
            kwargs["update_fields"] = {*update_fields, "phone_digits"}
        super().save(*args, **kwargs)


class Lead(models.Model):
    """C2: an enquiry worth following up, created only for a client who can be contacted again."""

    class Status(models.TextChoices):
        NEW = "new", _("New")
        IN_PROGRESS = "in_progress", _("In progress")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    title = models.CharField(_("title"), max_length=255)
    contact = models.ForeignKey(Contact, related_name="leads", null=True, blank=True, on_delete=models.SET_NULL)
    full_name = models.CharField(_("client's full name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    # C3: the lead source is the open channel's fixed source or the connector the client wrote through.
    source = models.CharField(
        _("source"),
        max_length=60,
        help_text=_("Where the lead came from: the open channel's lead source or the messenger."),
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible person"),
        related_name="responsible_for_leads",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NEW)
    open_channel = models.ForeignKey(
        "channels_app.OpenChannel", related_name="leads", null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
