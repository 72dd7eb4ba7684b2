"""Chatbots (B1, B2): a bot that answers first and hands over to the queue, and the rule bot's rules."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_app.models.shared import new_secret
from channels_app.policy.outbound import literal_host_refusal


class Chatbot(models.Model):
    """B1, B2: a bot that answers first and hands over to the queue."""

    class Kind(models.TextChoices):
        RULES = "rules", _("Built-in rule bot")
        EXTERNAL = "external", _("External bot over HTTP")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.RULES)
    supports_open_channels = models.BooleanField(
        _("supports open channels"),
        default=True,
        help_text=_("Only a chatbot that supports open channels can be assigned to one."),
    )  # B2
    is_active = models.BooleanField(_("active"), default=True)
    greeting = models.TextField(_("greeting"), blank=True)
    handover_keywords = models.CharField(
        _("hand-over phrases"), max_length=255, default="operator", help_text=_("Comma-separated.")
    )
    max_unmatched = models.PositiveIntegerField(
        _("hand over after unmatched messages"), default=2, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    handover_text = models.TextField(_("hand-over message"), default="Connecting you to an operator.")
    endpoint_url = models.URLField(_("bot URL"), blank=True, help_text=_("External bots: events are POSTed here."))
    signing_secret = models.CharField(_("signing secret"), max_length=128, default=new_secret)
    api_token = models.CharField(_("API token"), max_length=128, default=new_secret, unique=True)
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (seconds)"), default=10, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )

    class Meta:
        verbose_name = _("chatbot")
        verbose_name_plural = _("chatbots")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == self.Kind.EXTERNAL and not self.endpoint_url:
            raise ValidationError({"endpoint_url": _("An external bot needs the URL its events are sent to.")})
        self._clean_endpoint_address()

    def _clean_endpoint_address(self) -> None:
        """Issue 13: no bot URL at this machine or a private network, judged here from the URL alone (an address,
        or ``localhost``); the names a URL resolves to are judged again on every send (channels_app.bots.outbound),
        since DNS answers change."""
        try:
            host = urlsplit(self.endpoint_url).hostname or ""
        except ValueError:
            return  # not a URL at all: URLField's own validation says so
        if host and literal_host_refusal(host, settings.CHATBOT_ALLOWED_HOSTS):
            raise ValidationError(
                {
                    "endpoint_url": _(
                        "“%(host)s” is not a public address (it is this machine, a private network, or a link-local,"
                        " multicast or reserved address), so the product does not send events there. If the bot"
                        " really runs there, list its host in the CHATBOT_ALLOWED_HOSTS setting."
                    )
                    % {"host": host}
                }
            )


class ChatbotRule(models.Model):
    chatbot = models.ForeignKey(Chatbot, related_name="rules", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0)
    keywords = models.CharField(_("keywords or phrases"), max_length=255, help_text=_("Comma-separated."))
    answer = models.TextField(_("answer"))

    class Meta:
        verbose_name = _("chatbot rule")
        verbose_name_plural = _("chatbot rules")
        ordering = ["chatbot", "position", "id"]

    def __str__(self) -> str:
        return self.keywords
