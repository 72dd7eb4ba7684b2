"""Operators: presence, shift state and public identity (Q5, Q6, Q12), and their absences (Q10)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models.shared import Language


def compose_display_name(*, profile_name: str | None, first_name: str, last_name: str, username: str) -> str:
    """The name an operator is shown by, to colleagues and clients (Q12): the profile's, the full name, the login.

    Takes plain values so that a query reading them as columns (routing reads fifty operators per decision)
    names operators exactly as :func:`operator_display_name` does.
    """
    return profile_name or f"{first_name} {last_name}".strip() or username


def operator_display_name(user) -> str:
    """:func:`compose_display_name` of a user, with or without an operator profile (one query unless it is loaded)."""
    profile = getattr(user, "operator_profile", None)
    return compose_display_name(
        profile_name=profile.display_name if profile is not None else None,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.get_username(),
    )


class OperatorAvailability(models.TextChoices):
    """What the operator chooses in the console, whatever their clock-in (issue 20).

    Away: signed in, answers the conversations they hold, gets no new offers. Offline: the same, and colleagues
    see them as offline. The values are :mod:`channels_app.policy.distribution`'s ``CHOSEN_*``.
    """

    AVAILABLE = "available", _("Available")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


# The OperatorProfile columns routing reads to judge presence, in the order its SQL returns them
# (engine.routing_sql's snapshot, engine.locks' Evenly try; engine.queue's _Presence has these fields).
ROUTING_PRESENCE_FIELDS = ("clocked_in", "on_break", "console_heartbeat_at", "last_activity_at", "availability")


class OperatorProfile(models.Model):
    """Presence, shift state and public identity of an operator (Q5, Q6, Q12).

    Dismissed operators are inactive users (``User.is_active`` false); absences
    are :class:`LeavePeriod` rows.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, related_name="operator_profile", on_delete=models.CASCADE)
    display_name = models.CharField(_("name shown to clients"), max_length=120, blank=True)
    photo_url = models.URLField(_("photo"), blank=True)
    clocked_in = models.BooleanField(_("clocked in"), default=False)
    clocked_in_at = models.DateTimeField(null=True, blank=True)
    on_break = models.BooleanField(_("on a break"), default=False)
    break_started_at = models.DateTimeField(null=True, blank=True)
    console_heartbeat_at = models.DateTimeField(
        _("last console heartbeat"),
        null=True,
        blank=True,
        help_text=_("A connected console tab reports this regularly."),
    )
    last_activity_at = models.DateTimeField(
        _("last activity"), null=True, blank=True, help_text=_("The last keystroke, click or message in the console.")
    )
    is_online = models.BooleanField(
        _("online"), default=False, help_text=_("Kept up to date by the console and the presence sweep.")
    )
    availability = models.CharField(
        _("availability"),
        max_length=10,
        choices=OperatorAvailability.choices,
        default=OperatorAvailability.AVAILABLE,
        help_text=_("Chosen by the operator in the console. Away or Offline: no new conversations are offered."),
    )
    language = models.CharField(_("console language"), max_length=5, choices=Language.choices, default=Language.ENGLISH)

    class Meta:
        verbose_name = _("operator profile")
        verbose_name_plural = _("operator profiles")

    def __str__(self) -> str:
        return self.public_name

    @property
    def public_name(self) -> str:
        return compose_display_name(
            profile_name=self.display_name,
            first_name=self.user.first_name,
            last_name=self.user.last_name,
            username=self.user.get_username(),
        )


class LeavePeriod(models.Model):
    """Q5, Q10: an absence; an operator is on leave while one covers now."""

    operator = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="leave_periods", on_delete=models.CASCADE)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    reason = models.CharField(_("reason"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("leave period")
        verbose_name_plural = _("leave periods")
        ordering = ["operator", "starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="leave_ends_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.operator} {self.starts_at:%Y-%m-%d}–{self.ends_at:%Y-%m-%d}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The leave must end after it starts.")})
