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
from typing import Any

from channels_app.engine import access
from channels_app.engine.availability import loads_and_leave, operator_online
from channels_app.models import (
    ClientRating,
    Conversation,
    ConversationStatus,
    Offer,
    OpenChannel,
    OperatorProfile,
    QueueMember,
    StatusChange,
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

    open_conversations = list(
        Conversation.objects.filter(open_channel_id__in=ids, status__in=[*WAITING_STATUSES, ConversationStatus.ACTIVE])
        .select_related("client", "connector", "operator__operator_profile")
        .order_by("queued_at", "created_at", "pk")
    )
    offers_by_conversation: dict[int, list[Offer]] = defaultdict(list)
    for offer in (
        Offer.objects.filter(conversation__in=[c.pk for c in open_conversations], status=Offer.Status.PENDING)
        .select_related("operator__operator_profile")
        .order_by("expires_at", "pk")
    ):
        offers_by_conversation[offer.conversation_id].append(offer)

    members = list(
        QueueMember.objects.filter(open_channel_id__in=ids)
        .select_related("operator__operator_profile")
        .order_by("open_channel_id", "position", "operator_id")
    )
    operator_ids = {member.operator_id for member in members}
    buckets, on_leave = loads_and_leave(operator_ids, now)
    today = _today(ids, starts, earliest, now)

    boards = []
    for channel in channels:
        waiting = [c for c in open_conversations if c.open_channel_id == channel.pk and c.status in WAITING_STATUSES]
        held = [
            c for c in open_conversations if c.open_channel_id == channel.pk and c.status == ConversationStatus.ACTIVE
        ]
        operators = [
            _operator_row(member, channel, buckets.get(member.operator_id, ()), member.operator_id in on_leave, now)
            | {"today": today.assigned.get((channel.pk, member.operator_id), 0)}
            for member in members
            if member.open_channel_id == channel.pk
        ]
        wait_starts = [_waiting_since(c) for c in waiting]
        boards.append(
            {
                "id": channel.pk,
                "name": channel.name,
                "time_zone": channel.time_zone,
                "chat_limit": channel.chat_limit if channel.chat_limit_enabled else None,
                "waiting": [_waiting_row(c, offers_by_conversation.get(c.pk, [])) for c in waiting],
                "longest_waiting_since": min(wait_starts).isoformat() if wait_starts else None,
                "held": [_held_row(c) for c in held],
                "operators": operators,
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


def _today(ids: list[int], starts: dict[int, datetime], earliest: datetime, now: datetime) -> _Today:
    def since_start(rows, channel_key: str, moment_key: str) -> list[dict]:
        # The query read from the earliest "today"; each row counts from its own channel's.
        return [row for row in rows if row[moment_key] >= starts[row[channel_key]]]

    def per_channel(queryset, moment_key: str, channel_key: str = "open_channel_id") -> dict[int, int]:
        counts: dict[int, int] = defaultdict(int)
        for row in since_start(queryset.values(channel_key, moment_key), channel_key, moment_key):
            counts[row[channel_key]] += 1
        return dict(counts)

    in_channels = Conversation.objects.filter(open_channel_id__in=ids)
    ratings: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in since_start(
        ClientRating.objects.filter(conversation__open_channel_id__in=ids, rated_at__gte=earliest).values(
            "conversation__open_channel_id", "rated_at", "value"
        ),
        "conversation__open_channel_id",
        "rated_at",
    ):
        ratings[row["conversation__open_channel_id"]][row["value"]] += 1
    # Conversations each operator took today (accepted, assigned or transferred to them), counted once each.
    assigned: dict[tuple[int, int], set[int]] = defaultdict(set)
    for row in since_start(
        StatusChange.objects.filter(
            conversation__open_channel_id__in=ids,
            to_status=ConversationStatus.ACTIVE,
            operator_id__isnull=False,
            at__gte=earliest,
        ).values("conversation__open_channel_id", "operator_id", "conversation_id", "at"),
        "conversation__open_channel_id",
        "at",
    ):
        assigned[(row["conversation__open_channel_id"], row["operator_id"])].add(row["conversation_id"])
    return _Today(
        missed=per_channel(in_channels.filter(is_unprocessed=True, unprocessed_at__gte=earliest), "unprocessed_at"),
        response_misses=per_channel(
            KpiMiss.objects.filter(open_channel_id__in=ids, detected_at__gte=earliest), "detected_at"
        ),
        ratings={key: dict(value) for key, value in ratings.items()},
        started=per_channel(in_channels.filter(created_at__gte=earliest), "created_at"),
        assigned={key: len(value) for key, value in assigned.items()},
    )


def _waiting_since(conversation: Conversation) -> datetime:
    return conversation.queued_at or conversation.created_at


def _source(conversation: Conversation) -> str:
    # The kind's code: the socket has no request language, so the page names it (its texts, in the viewer's).
    return conversation.connector.kind


def _waiting_row(conversation: Conversation, offers: list[Offer]) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "client_name": str(conversation.client),
        "source": _source(conversation),
        "status": conversation.status,
        "waiting_since": _waiting_since(conversation).isoformat(),
        "is_unprocessed": conversation.is_unprocessed,
        "held_back_until": conversation.route_not_before.isoformat() if conversation.route_not_before else None,
        "offers": [
            {
                "operator_id": offer.operator_id,
                "operator_name": operator_display_name(offer.operator),
                "expires_at": offer.expires_at.isoformat(),
            }
            for offer in offers
        ],
    }


def _held_row(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "client_name": str(conversation.client),
        "source": _source(conversation),
        "operator_id": conversation.operator_id,
        "operator_name": operator_display_name(conversation.operator) if conversation.operator else "",
        "assigned_at": conversation.assigned_at.isoformat() if conversation.assigned_at else None,
        "is_unprocessed": conversation.is_unprocessed,
        # The client wrote last and nobody has answered yet: the supervisor may want to step in.
        "awaiting_reply_since": (
            conversation.last_client_message_at.isoformat()
            if conversation.last_message_author == "client" and conversation.last_client_message_at
            else None
        ),
    }


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
