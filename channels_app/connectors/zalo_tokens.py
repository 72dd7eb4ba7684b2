"""Zalo OA access tokens (S2): refreshed before they expire, and at once when Zalo says one is no longer valid.

An OA access token lives about 25 hours; its refresh token is single use and
lives about 3 months. ``POST https://oauth.zaloapp.com/v4/oa/access_token``
with the app's ``secret_key`` header and the form ``refresh_token``,
``app_id``, ``grant_type=refresh_token`` answers a new access token, a new
refresh token and ``expires_in`` (seconds, as text). The old refresh token
is then spent, so two refreshes of one connector must never run at once:
each refresh locks the connector's row for the time of the call, and a
refresh that finds the token already replaced by another uses the new one.

The beat sweep refreshes every token that expires within the hour (or whose
expiry is unknown); a send that Zalo refuses with error -216 ("access token
is invalid") or HTTP 401 refreshes once and tries again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from django.db import transaction
from django.db.models import Q

from channels_app.connectors.base import (
    DeliveryError,
    as_dict,
    as_int,
    as_str,
    http_client,
    logger,
    provider_base,
    response_json,
    transport_error,
)
from channels_app.models import Connector, ConnectorKind

REFRESH_AHEAD = timedelta(hours=1)
TOKEN_PATH = "/v4/oa/access_token"  # noqa: S105 (a URL path, not a secret)
INVALID_TOKEN_ERRORS = frozenset({-216})  # "Access token is invalid": expired or revoked


def is_invalid_token(*, status_code: int, error: int | None) -> bool:
    """Zalo's answer to a call made with an expired or revoked access token."""
    return status_code == 401 or error in INVALID_TOKEN_ERRORS


def can_refresh(connector: Connector) -> bool:
    return bool(connector.refresh_token and connector.oauth_app_id and connector.oauth_app_secret)


def zalo_access_token_refresh(*, connector_id: int, now: datetime, rejected_token: str | None = None) -> str:
    """Give the connector a fresh access token if it needs one, and return the token to use.

    ``rejected_token`` is the token Zalo just refused: it is refreshed unless
    another worker replaced it meanwhile. Without it, the token is refreshed
    only when it expires within :data:`REFRESH_AHEAD` (the beat sweep).
    Raises :class:`DeliveryError` (not retryable) when Zalo refuses the
    refresh or the connector has no refresh credentials; the reason is kept
    on the connector's ``token_refresh_error`` for the administrator.
    """
    try:
        return _refresh(connector_id, now, rejected_token)
    except DeliveryError as exc:
        # Recorded after the refresh's transaction rolled back, so the administrator sees why on the connector.
        Connector.objects.filter(pk=connector_id).update(token_refresh_error=str(exc))
        raise


def zalo_tokens_refresh_expiring(*, now: datetime) -> int:
    """The beat sweep: refresh each active Zalo connector's token that expires within the hour; returns how many.

    A connector whose refresh fails keeps the reason in ``token_refresh_error`` and does
    not stop the others.
    """
    due = (
        Connector.objects.filter(kind=ConnectorKind.ZALO, is_active=True)
        .exclude(refresh_token="")
        .filter(Q(access_token_expires_at__isnull=True) | Q(access_token_expires_at__lte=now + REFRESH_AHEAD))
        .values_list("pk", flat=True)
    )
    refreshed = 0
    for connector_id in due:
        try:
            zalo_access_token_refresh(connector_id=connector_id, now=now)
        except DeliveryError as exc:
            logger.warning("zalo connector %s: access token not refreshed: %s", connector_id, exc)
        else:
            refreshed += 1
    return refreshed


def _refresh(connector_id: int, now: datetime, rejected_token: str | None) -> str:
    with transaction.atomic():
        # The lock is held across the call on purpose: the refresh token is single use (see the module docstring).
        connector = Connector.objects.select_for_update().get(pk=connector_id, kind=ConnectorKind.ZALO)
        if rejected_token is not None and connector.access_token != rejected_token:
            return connector.access_token
        if rejected_token is None and not _expires_soon(connector, now):
            return connector.access_token
        if not can_refresh(connector):
            raise DeliveryError(
                "The Zalo access token has expired and the connector has no refresh token, app id and app secret "
                "key to get a new one; enter a new access token in the admin.",
                retryable=False,
            )
        answer = _ask_for_new_tokens(connector)
        expires_in = as_str(answer.get("expires_in"))  # Zalo sends the seconds as text
        connector.access_token = as_str(answer.get("access_token"))
        connector.refresh_token = as_str(answer.get("refresh_token")) or connector.refresh_token
        connector.access_token_expires_at = now + timedelta(seconds=int(expires_in) if expires_in.isdigit() else 0)
        fields = ["access_token", "refresh_token", "access_token_expires_at"]
        if connector.token_refresh_error:
            connector.token_refresh_error = ""
            fields.append("token_refresh_error")
        connector.save(update_fields=fields)
    expires_at = connector.access_token_expires_at
    logger.info("zalo connector %s: access token refreshed, expires %s", connector_id, expires_at)
    return connector.access_token


def _expires_soon(connector: Connector, now: datetime) -> bool:
    expires_at = connector.access_token_expires_at
    return expires_at is None or expires_at <= now + REFRESH_AHEAD


def _ask_for_new_tokens(connector: Connector) -> dict:
    try:
        with http_client() as http:
            response = http.post(
                f"{provider_base('ZALO_OAUTH_BASE')}{TOKEN_PATH}",
                headers={"secret_key": connector.oauth_app_secret},
                data={
                    "refresh_token": connector.refresh_token,
                    "app_id": connector.oauth_app_id,
                    "grant_type": "refresh_token",
                },
            )
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None
    data = as_dict(response_json(response))
    if response.status_code == 200 and as_str(data.get("access_token")):
        return data
    error = as_int(data.get("error"))
    reason = as_str(data.get("error_reason")) or as_str(data.get("error_name")) or f"HTTP {response.status_code}"
    raise DeliveryError(f"Zalo refused the token refresh (error {error}): {reason}", retryable=False)
