"""The client: a person writing in, identified per connector by the source's own user id."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_app.models.connector import Connector, ConnectorKind


class Client(models.Model):
    """A person writing in, identified per connector by the source's own user id."""

    connector = models.ForeignKey(Connector, related_name="clients", on_delete=models.PROTECT)
    external_id = models.CharField(_("source user id"), max_length=128)
    name = models.CharField(_("name"), max_length=200, blank=True)
    username = models.CharField(_("username"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    # Typed by an anonymous visitor and not yet confirmed through the link mailed to it: never used to find a CRM
    # contact or to join an existing lead (a lead may carry it when the visitor gave it in the chat's form, below);
    # confirming it moves it to ``email``.
    unverified_email = models.EmailField(_("e-mail, not confirmed"), blank=True)
    # The visitor gave ``unverified_email`` in the chat's pre-chat or offline form as the address to reach them at
    # (not one they only asked a transcript for): a lead may carry it (C2), it still finds no CRM contact (C1).
    unverified_email_given = models.BooleanField(_("e-mail given in the chat's form"), default=False)
    # The phone was typed into the website chat's form: nothing proves it is the visitor's, so C1 never matches it.
    phone_typed = models.BooleanField(_("phone typed in the chat's form"), default=False)
    avatar_url = models.URLField(blank=True)
    contact = models.ForeignKey("crm.Contact", related_name="clients", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # Issue 19: the client's identity was erased (``engine.erasure``); ``external_id`` is then ``erased:<pk>``, so
    # the same messenger user writing again is a new client. Never cleared: an erasure cannot be undone.
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["connector", "external_id"], name="client_unique_per_connector")]

    def __str__(self) -> str:
        return self.label(
            name=self.name, username=self.username, external_id=self.external_id, connector_kind=self.connector.kind
        )

    @staticmethod
    def label(*, name: str, username: str, external_id: str, connector_kind: str) -> str:
        """How a client is named on screen; from plain values, so a query reading them as columns (the
        wallboard reads hundreds) names clients exactly as ``str(client)`` does."""
        if name or username:
            return name or username
        if connector_kind == ConnectorKind.LIVECHAT:
            # Visitor ids are long random tokens; a short tail tells visitors apart on screen.
            return _("Visitor %(tag)s") % {"tag": external_id[-6:].upper()}
        return f"{ConnectorKind(connector_kind).label} {external_id}"

    @property
    def can_be_contacted(self) -> bool:
        """C2: messenger users can be written to again; an anonymous visitor needs a phone or e-mail (a confirmed
        one, or one they gave in the chat's form as theirs)."""
        if self.connector.kind != ConnectorKind.LIVECHAT:
            return True
        return bool(self.phone or self.email_for_lead)

    @property
    def email_for_lead(self) -> str:
        """C2: the address a lead carries: the confirmed one, else the one the visitor gave in the chat's form."""
        return self.email or (self.unverified_email if self.unverified_email_given else "")

    @property
    def proven_phone(self) -> str:
        """C1: the phone a CRM contact may be found by: a messenger's (the provider knows it), never one typed into
        the website chat's form (anyone can type anybody's number)."""
        return "" if self.phone_typed else self.phone
