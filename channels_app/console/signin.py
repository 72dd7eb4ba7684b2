"""Signing in, on every login page (the console's and the admin's): throttled, with an optional second factor.

1. The password is checked by ``django.contrib.auth.authenticate``. django-axes' backend runs first and refuses
   a username or a client address with too many recent failures; every failure is counted against both, each
   with a limit of its own (:class:`SignInThrottle`; ``LOGIN_*`` and ``AXES_*`` in the settings, the address
   read by :func:`client_address`).
2. A user with a confirmed TOTP device (django-otp, enrolled in the admin) must also give the device's current
   code; a missing code is asked for, a wrong one counts as a failed sign-in. A user without a device signs in
   with the password alone.
3. When axes locks, the form says so and when to try again, and :func:`lockout_response` answers the page
   with 429.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp import devices_for_user, verify_token

TOTP_TOKEN_MAX_LENGTH = 16


def client_address(request: HttpRequest) -> str | None:
    """The address axes counts failures of: the TCP peer, or the client a trusted proxy named (set by uvicorn)."""
    return request.META.get("REMOTE_ADDR") or None


class SignInThrottle(AxesDatabaseHandler):
    """axes' database handler, with one limit for an account's failures and a higher one for an address's.

    With ``AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]`` axes counts both but compares them with one
    limit. An address is often a whole office behind one NAT (a contact center's operators usually are): five
    typos among fifty colleagues must not lock them all out. axes compares what this returns with
    ``AXES_FAILURE_LIMIT`` (the account's limit), so the address's count is put on that scale: it reaches the
    limit exactly when the address reaches ``LOGIN_ADDRESS_FAILURE_LIMIT``.
    """

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        by_account, by_address = (
            attempts.aggregate(failures=Sum("failures_since_start"))["failures"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        address_on_account_scale = by_address * settings.LOGIN_FAILURE_LIMIT // settings.LOGIN_ADDRESS_FAILURE_LIMIT
        return max(by_account, address_on_account_scale)


def lockout_message() -> str:
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    return ngettext(
        "Too many failed sign-ins for this account or from this address. Try again in %(minutes)d minute.",
        "Too many failed sign-ins for this account or from this address. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: dict | None = None
) -> HttpResponse:
    """axes' answer to a locked-out sign-in: the sign-in page the form already filled with the message, as 429.

    Each refused try restarts the cool-off (axes' default), so "try again in N minutes" holds from this answer.
    axes' async middleware path hands over no page; a plain message stands in for it there.
    """
    if isinstance(original_response, HttpResponse):
        response = original_response
        response.status_code = 429
    else:
        response = HttpResponse(lockout_message(), status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(settings.LOGIN_LOCKOUT_MINUTES * 60)
    return response


def _locked_out(request: HttpRequest | None) -> bool:
    return bool(getattr(request, "axes_locked_out", False))


class SecondFactorForm(forms.Form):
    """Adds the TOTP code and the lockout message to a sign-in form built on ``AuthenticationForm``."""

    otp_token = forms.CharField(
        label=_("Authentication code"),
        help_text=_("Only if you use two-factor sign-in: the 6-digit code from your authenticator app."),
        required=False,
        max_length=TOTP_TOKEN_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    second_factor_messages = {
        "otp_required": _("This account uses two-factor sign-in: enter the 6-digit code from your authenticator app."),
        "otp_invalid": _("That code is not valid. Enter the current code from your authenticator app."),
    }

    request: HttpRequest | None
    user_cache: Any

    def clean(self) -> dict[str, Any]:
        try:
            super().clean()
        except ValidationError:
            # axes refused (or has just locked) this username or address: say that, not "wrong password".
            if _locked_out(self.request):
                raise ValidationError(lockout_message(), code="locked_out") from None
            raise
        if self.user_cache is not None:
            self._check_second_factor(self.user_cache, self.cleaned_data)
        return self.cleaned_data

    def _check_second_factor(self, user: Any, cleaned: dict[str, Any]) -> None:
        devices = list(devices_for_user(user, confirmed=True))
        if not devices:
            return
        token = "".join((cleaned.get("otp_token") or "").split())
        if not token:
            self.user_cache = None
            raise ValidationError(self.second_factor_messages["otp_required"], code="otp_required")
        for device in devices:
            # verify_token locks the device row: a code is accepted once, never replayed.
            verified = verify_token(user, device.persistent_id, token)
            if verified is not None:
                user.otp_device = verified  # django-otp's user_logged_in receiver records it in the session
                return
        self.user_cache = None
        # A wrong code is a failed sign-in like a wrong password: axes counts it, so codes cannot be guessed.
        user_login_failed.send(sender=__name__, credentials={"username": cleaned.get("username")}, request=self.request)
        if _locked_out(self.request):
            raise ValidationError(lockout_message(), code="locked_out")
        raise ValidationError(self.second_factor_messages["otp_invalid"], code="otp_invalid")


class ConsoleSignInForm(SecondFactorForm, AuthenticationForm):
    """The console's sign-in: username, password and, for users with a TOTP device, its code."""
