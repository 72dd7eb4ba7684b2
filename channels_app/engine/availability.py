"""What routing and transfers know about operators: leave (Q5), presence (Q6), load (Q8), channel rules.

Reads only; the policy deciding with these facts is :mod:`channels_app.policy`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Max
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.engine import prepared
from channels_app.models import LeavePeriod, OpenChannel, OperatorProfile, QueueMember, operator_display_name
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


def leave_ends(user_ids: Iterable[int], now: datetime) -> dict[int, datetime]:
    """Q5: for each operator on leave at ``now``, when the latest absence covering ``now`` ends."""
    return dict(
        LeavePeriod.objects.filter(operator_id__in=list(user_ids), starts_at__lte=now, ends_at__gt=now)
        .values("operator_id")
        .annotate(until=Max("ends_at"))
        .values_list("operator_id", "until")
    )


class PresenceFacts(Protocol):
    """What Q6 reads of an operator: their OperatorProfile, or routing's plain-value copy of its fields."""

    @property
    def console_heartbeat_at(self) -> datetime | None: ...

    @property
    def last_activity_at(self) -> datetime | None: ...


def operator_online(profile: PresenceFacts | None, open_channel: OpenChannel, now: datetime) -> bool:
    """Q6: console connected (fresh heartbeat) and, where the channel's inactivity rule is on, activity within
    its offline time."""
    if profile is None:
        return False
    return is_online(
        heartbeat_at=profile.console_heartbeat_at,
        last_activity_at=profile.last_activity_at,
        now=now,
        heartbeat_timeout=settings.CONSOLE_HEARTBEAT_TIMEOUT,
        offline_after=inactivity_limit(open_channel),
    )


def inactivity_limit(open_channel: OpenChannel) -> timedelta | None:
    """Q6: how long an operator may stay idle in this channel and still count as online; None: no limit."""
    return timedelta(minutes=open_channel.offline_after_minutes) if open_channel.offline_when_inactive else None


# What the limit, leave and Evenly rules need about a set of operators, one row per (operator, kind, what the
# exclusions look at): held conversations (kind = status) with their count, pending offers ("offered"), a leave
# covering now ("leave") and the latest assignment in any queue ("last_assigned", its time in the last column).
# Q2 Evenly: each queue place keeps its own time (QueueMember.last_assigned_at, shown per channel in the admin);
# Evenly compares the latest of them, so an operator in several queues is not given one new conversation per
# queue at once. Every place counts, of an active channel or not: a switched-off channel's conversations are still
# on the operator's hands, and its older times never outweigh a newer one.
# Routing reads it on every decision, so it is plain SQL rather than four ORM queries; ``{ids}`` is an SQL
# expression yielding the operator ids (a constant of this module or of routing's snapshot, never a value).
HELD_ROWS_SQL = """
    SELECT operator_id, status, replied, last_by_operator, SUM(n)::int AS n, MAX(at) AS at FROM (
        SELECT operator_id, status,
               COALESCE(last_operator_message_at >= assigned_at, FALSE) AS replied,
               last_message_author = 'operator' AS last_by_operator,
               COUNT(*) AS n, NULL::timestamptz AS at
          FROM channels_app_conversation
         WHERE operator_id IN ({ids}) AND status IN ('active', 'closed_pending_rating')
         GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT operator_id, 'offered', FALSE, FALSE, COUNT(*), NULL
          FROM channels_app_offer
         WHERE operator_id IN ({ids}) AND status = 'pending'
         GROUP BY 1
        UNION ALL
        SELECT operator_id, 'leave', FALSE, FALSE, COUNT(*), NULL
          FROM channels_app_leaveperiod
         WHERE operator_id IN ({ids}) AND starts_at <= %(now)s AND ends_at > %(now)s
         GROUP BY 1
        UNION ALL
        SELECT operator_id, 'last_assigned', FALSE, FALSE, 0, MAX(last_assigned_at)
          FROM channels_app_queuemember
         WHERE operator_id IN ({ids})
         GROUP BY 1
    ) AS held GROUP BY 1, 2, 3, 4
"""
_LOAD_SQL = HELD_ROWS_SQL.format(ids="SELECT unnest(%(ids)s::int[])")

HELD_KIND_LEAVE = "leave"
HELD_KIND_LAST_ASSIGNED = "last_assigned"


@dataclass(frozen=True)
class OperatorLoads:
    """:data:`HELD_ROWS_SQL` read back: Q8 loads, Q5 leave and the Q2 Evenly time of a set of operators."""

    held: dict[int, tuple[HeldBucket, ...]]
    on_leave: set[int]
    last_assigned: dict[int, datetime | None]  # the latest of any queue place (Q2 Evenly, see above)

    @classmethod
    def from_rows(cls, rows: Iterable, *, parse_time=None) -> OperatorLoads:
        """Rows of :data:`HELD_ROWS_SQL`; ``parse_time`` turns the last column into a datetime (rows read as JSON)."""
        buckets: dict[int, list[HeldBucket]] = defaultdict(list)
        on_leave: set[int] = set()
        last_assigned: dict[int, datetime | None] = {}
        for operator_id, kind, replied, last_by_operator, count, at in rows:
            if kind == HELD_KIND_LEAVE:
                on_leave.add(operator_id)
            elif kind == HELD_KIND_LAST_ASSIGNED:
                last_assigned[operator_id] = parse_time(at) if parse_time is not None and at is not None else at
            else:
                buckets[operator_id].append(
                    HeldBucket(kind=kind, replied=replied, last_by_operator=last_by_operator, count=count)
                )
        return cls({user_id: tuple(items) for user_id, items in buckets.items()}, on_leave, last_assigned)


def operator_loads(user_ids: Iterable[int], now: datetime) -> OperatorLoads:
    """Q8, Q5 and Q2 Evenly in one query: each operator's held conversations and pending offers, grouped by what
    the exclusions look at, the operators on leave at ``now``, and when each was last given a conversation."""
    ids = list(user_ids)
    if not ids:
        return OperatorLoads({}, set(), {})
    return OperatorLoads.from_rows(prepared.fetchall(_LOAD_SQL, {"ids": ids, "now": now}))


def loads_and_leave(user_ids: Iterable[int], now: datetime) -> tuple[dict[int, tuple[HeldBucket, ...]], set[int]]:
    """Q8 and Q5 in one query (see :func:`operator_loads`)."""
    loads = operator_loads(user_ids, now)
    return loads.held, loads.on_leave


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


def operator_channel_ids(user_id: int) -> list[int]:
    """The active open channels whose queue the operator is in."""
    return list(
        QueueMember.objects.filter(operator_id=user_id, open_channel__is_active=True).values_list(
            "open_channel_id", flat=True
        )
    )


PRESENCE_ONLINE = "online"
PRESENCE_AWAY = "away"
PRESENCE_OFFLINE = "offline"


@dataclass(frozen=True)
class Availability:
    """Whether an operator could take a conversation of a channel now, by routing's own rules (Q5, Q6, Q8).

    A transfer (Q13) refuses, or warns about, an operator with obstacles; the
    transfer targets list shows the same facts.
    """

    operator_id: int
    name: str
    online: bool
    load: int
    chat_limit: int | None  # None: the channel has no limit
    leave_ends_at: datetime | None
    obstacles: tuple[distribution.Obstacle, ...]
    chosen: str = distribution.CHOSEN_AVAILABLE  # the operator's own Available / Away / Offline

    @property
    def available(self) -> bool:
        return not self.obstacles

    @property
    def presence(self) -> str:
        """What colleagues see: ``online``, ``away`` (chosen) or ``offline`` (chosen, or no live console)."""
        if self.chosen == distribution.CHOSEN_OFFLINE or not self.online:
            return PRESENCE_OFFLINE
        return PRESENCE_AWAY if self.chosen == distribution.CHOSEN_AWAY else PRESENCE_ONLINE

    def explain(self, open_channel: OpenChannel) -> str:
        """Every obstacle in plain words ("Piotr is offline."); the end of a leave in the channel's time zone."""
        return " ".join(self._sentence(obstacle, open_channel) for obstacle in self.obstacles)

    def _sentence(self, obstacle: distribution.Obstacle, open_channel: OpenChannel) -> str:
        name = self.name
        if obstacle.kind == distribution.REASON_DISMISSED:
            return _("%(name)s has been dismissed.") % {"name": name}
        if obstacle.kind == distribution.REASON_ON_LEAVE and self.leave_ends_at is not None:
            return _("%(name)s is on leave until %(date)s, %(time)s (%(time_zone)s).") % {
                "name": name,
                **_leave_end_words(self.leave_ends_at, open_channel),
            }
        if obstacle.kind in (distribution.REASON_OFFLINE, distribution.REASON_SET_OFFLINE):
            return _("%(name)s is offline.") % {"name": name}
        if obstacle.kind == distribution.REASON_SET_AWAY:
            return _("%(name)s is away.") % {"name": name}
        if obstacle.kind == distribution.REASON_NOT_CLOCKED_IN:
            return _("%(name)s is not clocked in.") % {"name": name}
        if obstacle.kind == distribution.REASON_ON_BREAK:
            return _("%(name)s is on a break.") % {"name": name}
        if obstacle.kind == distribution.REASON_AT_LIMIT and obstacle.limit is not None:
            return ngettext(
                "%(name)s has reached the limit of %(limit)d chat.",
                "%(name)s has reached the limit of %(limit)d chats.",
                obstacle.limit,
            ) % {"name": name, "limit": obstacle.limit}
        return _("%(name)s cannot take conversations now (%(reason)s).") % {"name": name, "reason": obstacle.reason}


def availability_for(
    users: Iterable,
    open_channel: OpenChannel,
    now: datetime,
    *,
    profiles: Mapping[int, OperatorProfile] | None = None,
    acting_id: int | None = None,
) -> dict[int, Availability]:
    """Q13: each user's :class:`Availability` for ``open_channel`` at ``now``.

    ``profiles`` are the operators' rows when the caller has locked them (fresh presence); otherwise each user's
    loaded ``operator_profile`` is read. ``acting_id`` is the person doing this very request (a supervisor taking
    a conversation over): acting is presence, so the online and clock-in rules hold for them whatever the
    heartbeat says, and so does their own Away or Offline; leave and the limit still apply.
    """
    users = list(users)
    ids = [user.pk for user in users]
    held = held_buckets(ids, now)
    leave = leave_ends(ids, now)
    rules = rules_for(open_channel)
    found = {}
    for user in users:
        profile = profiles.get(user.pk) if profiles is not None else getattr(user, "operator_profile", None)
        acting = user.pk == acting_id
        snapshot = distribution.OperatorSnapshot(
            operator_id=user.pk,
            name=operator_display_name(user),
            position=None,
            is_active=user.is_active,
            on_leave=user.pk in leave,
            online=acting or operator_online(profile, open_channel, now),
            clocked_in=acting or bool(profile and profile.clocked_in),
            on_break=not acting and bool(profile and profile.on_break),
            availability=distribution.CHOSEN_AVAILABLE if acting or profile is None else profile.availability,
            held=held.get(user.pk, ()),
        )
        found[user.pk] = Availability(
            operator_id=user.pk,
            name=snapshot.name,
            online=snapshot.online,
            load=snapshot.load(rules.chat_limit_exclusion),
            chat_limit=rules.chat_limit,
            leave_ends_at=leave.get(user.pk),
            obstacles=distribution.obstacles(snapshot, rules),
            chosen=snapshot.availability,
        )
    return found


def anyone_available(open_channel: OpenChannel, now: datetime) -> bool:
    """Q9 as a visitor sees it: could any operator of the channel's queue take a new conversation now?

    The website chat asks this to offer its offline form instead of a chat nobody would answer. Routing's own
    rules decide (leave, presence, clock-in, the limit); the responsible person of a known client (C4) is left
    out, as the visitor is not known yet.
    """
    user_model = get_user_model()
    users = user_model.objects.filter(queue_memberships__open_channel=open_channel).select_related("operator_profile")
    return any(found.available for found in availability_for(users, open_channel, now).values())


@dataclass(frozen=True)
class OwnAvailability:
    """Why an operator is, or is not, offered new conversations now, in their own words (issue 20).

    ``receiving``: at least one of their channels would offer them a conversation now. ``reasons``: every
    obstacle, each once, in plain words ("You are Away…", "Clock in to receive conversations in Website
    support."); when ``receiving`` is true they concern some channels only. ``clock_in_required``: one of their
    channels routes only to clocked-in operators, so the console shows the clock-in and break buttons.
    """

    chosen: str
    receiving: bool
    reasons: tuple[str, ...]
    clock_in_required: bool


def own_availability(user, now: datetime) -> OwnAvailability:
    """:class:`OwnAvailability` of ``user`` at ``now``: routing's own rules over each active channel whose queue
    they are in (:func:`availability_for`)."""
    profile = OperatorProfile.objects.filter(user_id=user.pk).first()
    chosen = profile.availability if profile is not None else distribution.CHOSEN_AVAILABLE
    channels = list(OpenChannel.objects.filter(pk__in=operator_channel_ids(user.pk)).order_by("name", "pk"))
    if not channels:
        reason = _("You are in no open channel's queue yet: an administrator can add you to one.")
        return OwnAvailability(chosen=chosen, receiving=False, reasons=(reason,), clock_in_required=False)
    profiles = {user.pk: profile} if profile is not None else {}
    blocked_in: dict[str, list[str]] = defaultdict(list)  # obstacle kind -> channel names
    at_limit: list[tuple[str, int]] = []
    leave_until: datetime | None = None
    receiving = False
    for channel in channels:
        found = availability_for([user], channel, now, profiles=profiles)[user.pk]
        receiving = receiving or found.available
        leave_until = leave_until or found.leave_ends_at
        for obstacle in found.obstacles:
            if obstacle.kind == distribution.REASON_AT_LIMIT and obstacle.limit is not None:
                at_limit.append((channel.name, obstacle.limit))
            else:
                blocked_in[obstacle.kind].append(channel.name)
    return OwnAvailability(
        chosen=chosen,
        receiving=receiving,
        reasons=_own_reasons(blocked_in, at_limit, leave_until, several=len(channels) > 1, channel=channels[0]),
        clock_in_required=any(channel.require_clocked_in for channel in channels),
    )


def _leave_end_words(ends_at: datetime, open_channel: OpenChannel) -> dict[str, str]:
    """When a leave ends, in the channel's time zone: the date in the active language, a 24-hour time, the zone."""
    local = ends_at.astimezone(open_channel.tz)
    return {
        "date": formats.date_format(local, "DATE_FORMAT"),
        "time": local.strftime("%H:%M"),
        "time_zone": open_channel.time_zone,
    }


def _own_reasons(
    blocked_in: Mapping[str, list[str]],
    at_limit: list[tuple[str, int]],
    leave_until,
    *,
    several: bool,
    channel: OpenChannel,
) -> tuple[str, ...]:
    reasons = []
    if distribution.REASON_SET_AWAY in blocked_in:
        reasons.append(_("You are Away: you keep your conversations, but no new ones are offered to you."))
    if distribution.REASON_SET_OFFLINE in blocked_in:
        reasons.append(_("You are Offline: no new conversations are offered to you."))
    if distribution.REASON_ON_LEAVE in blocked_in:
        if leave_until is not None:
            reasons.append(
                _("You are on leave until %(date)s, %(time)s (%(time_zone)s).") % _leave_end_words(leave_until, channel)
            )
        else:
            reasons.append(_("You are on leave."))
    if distribution.REASON_OFFLINE in blocked_in:
        reasons.append(_("Your console counts as offline: it lost its connection, or you were inactive for a while."))
    if distribution.REASON_ON_BREAK in blocked_in:
        reasons.append(_("You are on a break."))
    if distribution.REASON_NOT_CLOCKED_IN in blocked_in:
        reasons.append(
            _("Clock in to receive conversations in %(channels)s.")
            % {"channels": ", ".join(blocked_in[distribution.REASON_NOT_CLOCKED_IN])}
        )
    for channel_name, limit in at_limit:
        if several:
            text = ngettext(
                "You are at your limit of %(limit)d chat in %(channel)s.",
                "You are at your limit of %(limit)d chats in %(channel)s.",
                limit,
            )
        else:
            text = ngettext(
                "You are at your limit of %(limit)d chat.", "You are at your limit of %(limit)d chats.", limit
            )
        reasons.append(text % {"limit": limit, "channel": channel_name})
    return tuple(reasons)
