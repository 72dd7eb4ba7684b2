"""The supervisor's wallboard: each open channel as it is now (reads only).

What a supervisor runs a shift from: who waits and since when, the offers in flight with their deadlines, who
is held by whom, each queue operator's presence and load against the limit (Q6, Q8), and today's misses (Q4,
K2), ratings (R1) and conversations. "Today" is the channel's own local day (its working-hours time zone).

One snapshot costs a fixed number of queries whatever the number of channels and operators (no query per
row); the wallboard socket (:mod:`kpi.consumers`) re-reads it when the engine nudges the channel.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Count, Q

from channels_app.engine import access
from channels_app.engine.availability import loads_and_leave, operator_online
from channels_app.models import (
    Client,
    ClientRating,
    Connector,
    ConnectorKind,
    Conversation,
    ConversationStatus,
    Offer,
    OpenChannel,
    OperatorProfile,
    QueueMember,
    Reachability,
    StatusChange,
    compose_display_name,
    operator_display_name,
)
from channels_app.policy.chat_limit import chat_load
from kpi.models import KpiMiss
from kpi.rollup import local_day, local_midnight

WAITING_STATUSES = (ConversationStatus.QUEUED, ConversationStatus.OFFERED)


class Presence:
    """How an operator shows on the wallboard, most important first."""

    ON_LEAVE = "leave"
    ON_BREAK = "break"
    ONLINE = "online"
    OFFLINE = "offline"


def local_day_start(channel: OpenChannel, now: datetime) -> datetime:
    """Midnight that began the channel's current local day, as an aware moment."""
    return local_midnight(local_day(now, channel.tz), channel.tz)


@dataclass(frozen=True)
class _Today:
    missed: dict[int, int]
    response_misses: dict[int, int]
    ratings: dict[int, dict[str, int]]
    started: dict[int, int]
    assigned: dict[tuple[int, int], int]


def snapshot(channels: list[OpenChannel], now: datetime) -> dict[str, Any]:
    """The wallboard of ``channels`` at ``now``, JSON-ready."""
    if not channels:
        return {"server_time": now.isoformat(), "channels": []}
    ids = [channel.pk for channel in channels]
    starts = {channel.pk: local_day_start(channel, now) for channel in channels}
    # Every channel's "today" began within the last 26 hours (UTC-12…UTC+14): one window bounds every query.
    earliest = min(starts.values())

    # Plain rows, not models: a busy floor has hundreds of open conversations, and building a model (with its
    # client, connector and operator) per row cost most of a snapshot.
    open_conversations = list(
        Conversation.objects.filter(open_channel_id__in=ids, status__in=[*WAITING_STATUSES, ConversationStatus.ACTIVE])
        .order_by("queued_at", "created_at", "pk")
        .values(*_CONVERSATION_COLUMNS, *_operator_columns("operator"))
    )
    offers_by_conversation: dict[int, list[dict]] = defaultdict(list)
    for offer in (
        Offer.objects.filter(conversation__in=[c["pk"] for c in open_conversations], status=Offer.Status.PENDING)
        .order_by("expires_at", "pk")
        .values("conversation_id", "operator_id", "expires_at", *_operator_columns("operator"))
    ):
        offers_by_conversation[offer["conversation_id"]].append(offer)

    operators_by_channel = queue_operators(channels, now)
    today = _today(ids, starts, earliest)
    unreachable = _unreachable_sources(ids)

    boards = []
    for channel in channels:
        mine = [c for c in open_conversations if c["open_channel_id"] == channel.pk]
        waiting = [c for c in mine if c["status"] in WAITING_STATUSES]
        held = [c for c in mine if c["status"] == ConversationStatus.ACTIVE]
        operators = [
            row | {"today": today.assigned.get((channel.pk, row["id"]), 0)}
            for row in operators_by_channel.get(channel.pk, [])
        ]
        wait_starts = [_waiting_since(c) for c in waiting]
        boards.append(
            {
                "id": channel.pk,
                "name": channel.name,
                "time_zone": channel.time_zone,
                "chat_limit": channel.chat_limit if channel.chat_limit_enabled else None,
                "waiting": [_waiting_row(c, offers_by_conversation.get(c["pk"], [])) for c in waiting],
                "longest_waiting_since": min(wait_starts).isoformat() if wait_starts else None,
                "held": [_held_row(c) for c in held],
                "operators": operators,
                "unreachable_sources": unreachable.get(channel.pk, []),
                "today": {
                    "since": starts[channel.pk].isoformat(),
                    "conversations": today.started.get(channel.pk, 0),
                    "missed": today.missed.get(channel.pk, 0),
                    "response_misses": today.response_misses.get(channel.pk, 0),
                    "likes": today.ratings.get(channel.pk, {}).get(ClientRating.Value.LIKE, 0),
                    "dislikes": today.ratings.get(channel.pk, {}).get(ClientRating.Value.DISLIKE, 0),
                },
            }
        )
    return {"server_time": now.isoformat(), "channels": boards}


def _unreachable_sources(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Issue 21: per channel, its sources whose provider is not answering (replies wait), and since when."""
    by_channel: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in (
        Connector.objects.filter(open_channel_id__in=ids, is_active=True)
        .exclude(reachability=Reachability.REACHABLE)
        .order_by("kind")
        .values("open_channel_id", "kind", "unreachable_since")
    ):
        by_channel[row["open_channel_id"]].append(
            {"source": str(ConnectorKind(row["kind"]).label), "since": _iso(row["unreachable_since"])}
        )
    return by_channel


def _today(ids: list[int], starts: dict[int, datetime], earliest: datetime) -> _Today:
    """Today's counts per channel, grouped in PostgreSQL: each row counts from its own channel's midnight."""

    def since_midnight(channel_path: str, moment: str) -> Q:
        # The earliest midnight bounds the index range; then each channel from its own.
        own = reduce(or_, (Q(**{channel_path: pk, f"{moment}__gte": starts[pk]}) for pk in ids))
        return Q(**{f"{moment}__gte": earliest}) & own

    def per_channel(queryset, moment: str, channel_path: str = "open_channel_id") -> dict[int, int]:
        rows = queryset.filter(since_midnight(channel_path, moment)).values(channel_path).annotate(n=Count("pk"))
        return {row[channel_path]: row["n"] for row in rows.order_by()}

    in_channels = Conversation.objects.filter(open_channel_id__in=ids)
    ratings: dict[int, dict[str, int]] = defaultdict(dict)
    channel_of_rating = "conversation__open_channel_id"
    for row in (
        ClientRating.objects.filter(since_midnight(channel_of_rating, "rated_at"))
        .values(channel_of_rating, "value")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        ratings[row[channel_of_rating]][row["value"]] = row["n"]
    # Conversations each operator took today (accepted, assigned or transferred to them), counted once each.
    assigned = {
        (row["conversation__open_channel_id"], row["operator_id"]): row["n"]
        for row in StatusChange.objects.filter(
            since_midnight("conversation__open_channel_id", "at"),
            to_status=ConversationStatus.ACTIVE,
            operator_id__isnull=False,
        )
        .values("conversation__open_channel_id", "operator_id")
        .annotate(n=Count("conversation_id", distinct=True))
        .order_by()
    }
    return _Today(
        missed=per_channel(in_channels.filter(is_unprocessed=True), "unprocessed_at"),
        response_misses=per_channel(KpiMiss.objects.all(), "detected_at"),
        ratings=dict(ratings),
        started=per_channel(in_channels, "created_at"),
        assigned=assigned,
    )


_CONVERSATION_COLUMNS = (
    "pk",
    "open_channel_id",
    "status",
    "queued_at",
    "created_at",
    "is_unprocessed",
    "is_offline_request",
    "route_not_before",
    "operator_id",
    "assigned_at",
    "last_client_message_at",
    "last_message_author",
    "connector__kind",
    "client__name",
    "client__username",
    "client__external_id",
)


def _operator_columns(path: str) -> tuple[str, ...]:
    return (f"{path}__first_name", f"{path}__last_name", f"{path}__username", f"{path}__operator_profile__display_name")


def _operator_name(row: dict, path: str = "operator") -> str:
    if row[f"{path}__username"] is None:
        return ""
    return compose_display_name(
        profile_name=row[f"{path}__operator_profile__display_name"],
        first_name=row[f"{path}__first_name"],
        last_name=row[f"{path}__last_name"],
        username=row[f"{path}__username"],
    )


def _client_name(row: dict) -> str:
    return str(
        Client.label(
            name=row["client__name"],
            username=row["client__username"],
            external_id=row["client__external_id"],
            connector_kind=row["connector__kind"],
        )
    )


def _waiting_since(row: dict) -> datetime:
    return row["queued_at"] or row["created_at"]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _waiting_row(row: dict, offers: list[dict]) -> dict[str, Any]:
    return {
        "conversation_id": row["pk"],
        "client_name": _client_name(row),
        # The kind's code: the socket has no request language, so the page names it (its texts, in the viewer's).
        "source": row["connector__kind"],
        "status": row["status"],
        "waiting_since": _waiting_since(row).isoformat(),
        "is_unprocessed": row["is_unprocessed"],
        "is_offline_request": row["is_offline_request"],  # left through the website chat's offline form
        "held_back_until": _iso(row["route_not_before"]),
        "offers": [
            {
                "operator_id": offer["operator_id"],
                "operator_name": _operator_name(offer),
                "expires_at": offer["expires_at"].isoformat(),
            }
            for offer in offers
        ],
    }


def _held_row(row: dict) -> dict[str, Any]:
    return {
        "conversation_id": row["pk"],
        "client_name": _client_name(row),
        "source": row["connector__kind"],
        "operator_id": row["operator_id"],
        "operator_name": _operator_name(row),
        "assigned_at": _iso(row["assigned_at"]),
        "is_unprocessed": row["is_unprocessed"],
        # The client wrote last and nobody has answered yet: the supervisor may want to step in.
        "awaiting_reply_since": (
            _iso(row["last_client_message_at"]) if row["last_message_author"] == "client" else None
        ),
    }


def queue_operators(channels: list[OpenChannel], now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Each channel's queue operators in queue order, with presence and load against its limit (two queries)."""
    by_pk = {channel.pk: channel for channel in channels}
    members = list(
        QueueMember.objects.filter(open_channel_id__in=list(by_pk))
        .select_related("operator__operator_profile")
        .order_by("open_channel_id", "position", "operator_id")
    )
    buckets, on_leave = loads_and_leave({member.operator_id for member in members}, now)
    rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for member in members:
        channel = by_pk[member.open_channel_id]
        held = buckets.get(member.operator_id, ())
        rows[channel.pk].append(_operator_row(member, channel, held, member.operator_id in on_leave, now))
    return dict(rows)


def _operator_row(member: QueueMember, channel: OpenChannel, buckets, on_leave: bool, now: datetime) -> dict[str, Any]:
    user = member.operator
    profile: OperatorProfile | None = getattr(user, "operator_profile", None)
    if on_leave:
        presence = Presence.ON_LEAVE
    elif profile is not None and profile.on_break:
        presence = Presence.ON_BREAK
    elif operator_online(profile, channel, now):
        presence = Presence.ONLINE
    else:
        presence = Presence.OFFLINE
    return {
        "id": user.pk,
        "name": operator_display_name(user),
        "presence": presence,
        "is_active": user.is_active,
        "load": chat_load(buckets, channel.chat_limit_exclusion),
        "limit": channel.chat_limit if channel.chat_limit_enabled else None,
    }


def wallboard_channels(user, open_channel_id: int | None = None) -> list[OpenChannel]:
    """The open channels ``user`` may watch on the wallboard (those they supervise; all for an administrator),
    narrowed to ``open_channel_id`` when given; empty for anyone else, as the KPI pages decide."""
    if not (getattr(user, "is_authenticated", False) and user.is_active and user.has_perm("kpi.view_kpi")):
        return []
    channels = access.supervised_channels(user).filter(is_active=True).order_by("name", "pk")
    if open_channel_id is not None:
        channels = channels.filter(pk=open_channel_id)
    return list(channels)
