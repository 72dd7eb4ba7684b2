"""What routing and transfers know about operators: leave (Q5), presence (Q6), load (Q8), channel rules.

Reads only; the policy deciding with these facts is :mod:`channels_app.policy`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max, OuterRef, Subquery

from channels_app.models import LeavePeriod, OpenChannel, QueueMember
from channels_app.policy import distribution
from channels_app.policy.chat_limit import HeldBucket, chat_load
from channels_app.policy.presence import is_online


def on_leave_ids(user_ids: Iterable[int], now: datetime) -> set[int]:
    """Q5: operators with an absence covering ``now``."""
    return set(
        LeavePeriod.objects.filter(operator_id__in=list(user_ids), starts_at__lte=now, ends_at__gt=now).values_list(
            "operator_id", flat=True
        )
    )


class PresenceFacts(Protocol):
    """What Q6 reads of an operator: their OperatorProfile, or routing's plain-value copy of its fields."""

    @property
    def console_heartbeat_at(self) -> datetime | None: ...

    @property
    def last_activity_at(self) -> datetime | None: ...


def operator_online(profile: PresenceFacts | None, open_channel: OpenChannel, now: datetime) -> bool:
    """Q6: console connected (fresh heartbeat) and activity within the channel's offline time."""
    if profile is None:
        return False
    return is_online(
        heartbeat_at=profile.console_heartbeat_at,
        last_activity_at=profile.last_activity_at,
        now=now,
        heartbeat_timeout=settings.CONSOLE_HEARTBEAT_TIMEOUT,
        offline_after=timedelta(minutes=open_channel.offline_after_minutes),
    )


# One round trip for what the limit and leave rules need about a set of operators. Routing runs it
# twice per decision, so it is plain SQL rather than three ORM queries.
_LOAD_SQL = """
    SELECT operator_id, status, replied, last_by_operator, SUM(n)::int FROM (
        SELECT operator_id, status,
               COALESCE(last_operator_message_at >= assigned_at, FALSE) AS replied,
               last_message_author = 'operator' AS last_by_operator,
               COUNT(*) AS n
          FROM channels_app_conversation
         WHERE operator_id = ANY(%(ids)s) AND status IN ('active', 'closed_pending_rating')
         GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT operator_id, 'offered', FALSE, FALSE, COUNT(*)
          FROM channels_app_offer
         WHERE operator_id = ANY(%(ids)s) AND status = 'pending'
         GROUP BY 1
        UNION ALL
        SELECT operator_id, 'leave', FALSE, FALSE, COUNT(*)
          FROM channels_app_leaveperiod
         WHERE operator_id = ANY(%(ids)s) AND starts_at <= %(now)s AND ends_at > %(now)s
         GROUP BY 1
    ) AS held GROUP BY 1, 2, 3, 4
"""


def loads_and_leave(user_ids: Iterable[int], now: datetime) -> tuple[dict[int, tuple[HeldBucket, ...]], set[int]]:
    """Q8 and Q5 in one query: each operator's held conversations and pending offers, grouped by what the
    exclusions look at, and the operators on leave at ``now``."""
    ids = list(user_ids)
    buckets: dict[int, list[HeldBucket]] = defaultdict(list)
    on_leave: set[int] = set()
    if not ids:
        return {}, on_leave
    with connection.cursor() as cursor:
        cursor.execute(_LOAD_SQL, {"ids": ids, "now": now})
        for operator_id, kind, replied, last_by_operator, count in cursor.fetchall():
            if kind == "leave":
                on_leave.add(operator_id)
            else:
                buckets[operator_id].append(
                    HeldBucket(kind=kind, replied=replied, last_by_operator=last_by_operator, count=count)
                )
    return {user_id: tuple(items) for user_id, items in buckets.items()}, on_leave


def held_buckets(user_ids: Iterable[int], now: datetime) -> dict[int, tuple[HeldBucket, ...]]:
    """Q8: per operator, their held conversations and pending offers (see :func:`loads_and_leave`)."""
    return loads_and_leave(user_ids, now)[0]


def operator_load(user_id: int, open_channel: OpenChannel, now: datetime) -> int:
    """Q8: how many of the operator's conversations count toward ``open_channel``'s limit now."""
    return chat_load(held_buckets([user_id], now).get(user_id, ()), open_channel.chat_limit_exclusion)


def rules_for(open_channel: OpenChannel) -> distribution.RoutingRules:
    """The channel's settings the distribution policy decides with."""
    return distribution.RoutingRules(
        mode=open_channel.distribution_mode,
        check_online=open_channel.check_online,
        require_clocked_in=open_channel.require_clocked_in,
        chat_limit=open_channel.chat_limit if open_channel.chat_limit_enabled else None,
        chat_limit_exclusion=open_channel.chat_limit_exclusion,
    )


def last_assigned_anywhere(operator: OuterRef) -> Subquery:
    """Q2 Evenly: when the ``operator`` (an outer reference to a user id) was last given a conversation in any
    open channel, for a query's annotation (``None``: never).

    Each queue place keeps its own time (``QueueMember.last_assigned_at``, shown per channel in the admin);
    Evenly compares the latest of them, so an operator in several queues is not given one new conversation per
    queue at once. Every place counts, of an active channel or not: a switched-off channel's conversations are
    still on the operator's hands, and its older times never outweigh a newer one.
    """
    latest = (
        QueueMember.objects.filter(operator_id=operator)
        .order_by()
        .values("operator_id")
        .annotate(latest=Max("last_assigned_at"))
        .values("latest")
    )
    return Subquery(latest[:1])


def last_assigned_by_operator(user_ids: Iterable[int]) -> dict[int, datetime | None]:
    """Q2 Evenly: :func:`last_assigned_anywhere` of each of these operators, read now (one query)."""
    return dict(
        get_user_model()
        .objects.filter(pk__in=list(user_ids))
        .order_by()
        .annotate(latest=last_assigned_anywhere(OuterRef("pk")))
        .values_list("pk", "latest")
    )


def operator_channel_ids(user_id: int) -> list[int]:
    """The active open channels whose queue the operator is in."""
    return list(
        QueueMember.objects.filter(operator_id=user_id, open_channel__is_active=True).values_list(
            "open_channel_id", flat=True
        )
    )
