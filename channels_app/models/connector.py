"""Connectors (S1–S3): one account of one source per open channel, and the webhook deliveries they receive."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_app.models.encryption import EncryptedSecretField
from channels_app.models.open_channel import OpenChannel
from channels_app.models.shared import new_public_key, new_secret


class ConnectorKind(models.TextChoices):
    LIVECHAT = "livechat", _("Website live chat")
    TELEGRAM = "telegram", "Telegram"
    FACEBOOK = "facebook", "Facebook Messenger"
    WHATSAPP = "whatsapp", "WhatsApp"
    ZALO = "zalo", "Zalo"


class RegistrationState(models.TextChoices):
    """O5: where binding the connector's webhook to this site stands (``registration_detail`` says more)."""

    NOT_REGISTERED = "", _("not registered")
    PENDING = "pending", _("registering…")
    REGISTERED = "registered", _("registered")
    # The provider has no API for it (Zalo) or lacks what it needs: a person must act, the detail says how.
    BY_HAND = "by_hand", _("to do by hand")
    FAILED = "failed", _("failed")


class Reachability(models.TextChoices):
    """Issue 21: the connector's circuit breaker, whose rules are :mod:`channels_app.policy.circuit`."""

    REACHABLE = "reachable", _("reachable")
    # Sends wait (``queued``, shown as delayed) without calling the provider until a probe succeeds.
    UNREACHABLE = "unreachable", _("unreachable")
    # One send (or an identity call) is testing whether the provider answers again.
    PROBING = "probing", _("testing recovery")


class Connector(models.Model):
    """S1–S3: one account of one source, attached to exactly one open channel."""

    open_channel = models.ForeignKey(
        OpenChannel, verbose_name=_("open channel"), related_name="connectors", on_delete=models.CASCADE
    )
    kind = models.CharField(_("source"), max_length=20, choices=ConnectorKind.choices)
    account_id = models.CharField(
        _("account id"),
        max_length=128,
        help_text=_(
            "The bot's id, page id, phone number id or Official Account id; for live chat, a generated key that "
            "appears in the website snippet once saved."
        ),
    )
    business_account_id = models.CharField(
        _("WhatsApp Business Account id"),
        max_length=64,
        blank=True,
        # O5: registration subscribes the app to this account.
        help_text=_("WhatsApp only: the business account of the phone number, to subscribe the app to it."),
    )
    name = models.CharField(_("label"), max_length=120, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # The provider credentials are stored encrypted (issue 13) and never shown back in the admin.
    access_token = EncryptedSecretField(_("access token"), max_length=512, blank=True)
    app_secret = EncryptedSecretField(
        _("app secret"), max_length=256, blank=True, help_text=_("Meta / Zalo app secret.")
    )
    # Zalo OA access tokens expire (about 25 hours); the refresh token (single use, about 3 months) gets a new
    # pair through the Zalo app that holds the OA's permission (channels_app.connectors.zalo_tokens).
    refresh_token = EncryptedSecretField(
        _("refresh token"), max_length=512, blank=True, help_text=_("Zalo: the OA refresh token.")
    )
    access_token_expires_at = models.DateTimeField(
        _("access token expires at"),
        null=True,
        blank=True,
        help_text=_("Zalo: when the access token expires; it is refreshed within the hour before."),
    )
    oauth_app_id = models.CharField(
        _("app id"), max_length=64, blank=True, help_text=_("Zalo: the id of the app the OA granted permission to.")
    )
    oauth_app_secret = EncryptedSecretField(
        _("app secret key"),
        max_length=256,
        blank=True,
        help_text=_("Zalo: that app's secret key (not the OA secret key), used to refresh the access token."),
    )
    token_refresh_error = models.TextField(
        _("token refresh error"), blank=True, help_text=_("Zalo: why the last refresh of the access token failed.")
    )
    verify_token = models.CharField(_("verify token"), max_length=128, blank=True, default=new_public_key)
    webhook_secret = models.CharField(_("webhook secret"), max_length=128, default=new_secret)
    public_key = models.CharField(_("widget key"), max_length=64, default=new_public_key, unique=True)
    webhook_url = models.URLField(_("registered webhook"), blank=True)
    # When the webhook was last bound successfully (Telegram's setWebhook, Meta's subscription).
    webhook_registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    registration_state = models.CharField(
        _("registration"), max_length=10, choices=RegistrationState.choices, blank=True, default=""
    )
    # The provider's answer, the error, or exactly what a person must do by hand.
    registration_detail = models.TextField(_("registration detail"), blank=True)
    registration_checked_at = models.DateTimeField(_("registration checked at"), null=True, blank=True)
    # Issue 21: the circuit breaker of outbound sends (channels_app.connectors.circuit writes these).
    reachability = models.CharField(
        _("reachability"), max_length=12, choices=Reachability.choices, default=Reachability.REACHABLE
    )
    # Transport failures in a row (refused, reset, timed out, HTTP 5xx); a success resets it.
    transport_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    transport_error = models.TextField(_("last transport error"), blank=True)
    unreachable_since = models.DateTimeField(_("unreachable since"), null=True, blank=True)
    next_probe_at = models.DateTimeField(_("next recovery test"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")
        ordering = ["open_channel", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "account_id"], name="connector_account_in_one_channel"),
            models.UniqueConstraint(fields=["open_channel", "kind"], name="connector_one_per_kind"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.account_id}"

    @property
    def is_unreachable(self) -> bool:
        """The provider did not answer lately: replies wait until a recovery test succeeds."""
        return self.reachability != Reachability.REACHABLE

    def clean(self) -> None:
        errors = {}
        if self.kind and self.account_id:
            clash = Connector.objects.filter(kind=self.kind, account_id=self.account_id).exclude(pk=self.pk).first()
            if clash:
                errors["account_id"] = _(
                    "This account is already connected to “%(channel)s”; one account belongs to one open channel."
                ) % {"channel": clash.open_channel}
        if self.kind and self.open_channel_id:
            twin = Connector.objects.filter(open_channel_id=self.open_channel_id, kind=self.kind).exclude(pk=self.pk)
            if twin.exists():
                errors["kind"] = _(
                    "This open channel already has a %(kind)s connector; it may have one of each source."
                ) % {"kind": self.get_kind_display()}
        if errors:
            raise ValidationError(errors)


# Longer provider ids are stored as their hash (channels_app.connectors.processing.storable_update_id).
UPDATE_ID_MAX_LENGTH = 128


class InboundUpdate(models.Model):
    """A provider's webhook delivery, stored as received before any processing.

    The webhook answers as soon as this row exists; a Celery task turns it
    into messages. ``update_id`` (Telegram's update_id, Meta's message id…)
    is unique per connector, so a provider's retries change nothing.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    connector = models.ForeignKey(Connector, related_name="inbound_updates", on_delete=models.CASCADE)
    update_id = models.CharField(max_length=UPDATE_ID_MAX_LENGTH)
    payload = models.JSONField()
    received_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("inbound update")
        verbose_name_plural = _("inbound updates")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "update_id"], name="inbound_update_unique_per_connector")
        ]

    def __str__(self) -> str:
        return f"{self.connector} update {self.update_id} ({self.state})"


class WhatsAppTemplate(models.Model):
    """S2: a message template approved by Meta for a WhatsApp connector, the one way to write to a client after
    the 24-hour window has closed.

    ``name`` and ``language`` must be those approved in WhatsApp Manager; ``body`` is a copy of the approved body
    with its ``{{1}}``, ``{{2}}``… placeholders, shown to the operator and stored in the transcript.
    """

    connector = models.ForeignKey(
        Connector,
        related_name="whatsapp_templates",
        on_delete=models.CASCADE,
        limit_choices_to={"kind": ConnectorKind.WHATSAPP},
    )
    name = models.CharField(
        _("template name"), max_length=512, help_text=_("Exactly as approved in WhatsApp Manager, e.g. order_update.")
    )
    language = models.CharField(
        _("language code"), max_length=15, help_text=_("The approved translation's code, e.g. en_US, pl or vi.")
    )
    body = models.TextField(
        _("body"),
        max_length=1024,
        help_text=_("A copy of the approved body, with {{1}}, {{2}}… where the operator fills in a text."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("WhatsApp template")
        verbose_name_plural = _("WhatsApp templates")
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "name", "language"], name="whatsapp_template_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    def clean(self) -> None:
        if self.connector_id and self.connector.kind != ConnectorKind.WHATSAPP:
            raise ValidationError({"connector": _("Message templates belong to WhatsApp connectors only.")})
