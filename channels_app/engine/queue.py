"""The queue: offering waiting conversations to operators (Q2–Q9, C4, H2), concurrency-safe.

Every offer from the queue is made here: :func:`conversation_route` routes
one conversation, :func:`channel_redistribute` a channel's queue. Many routers
(inbound messages, sweeps, instant triggers, several Celery workers) may route
the same channel at once; correctness rests on row locks, never on timing:

* the operators who will receive an offer are locked (user-id order) *before*
  the conversation, and their chat-limit count is re-read under that lock, so
  two routers can never both fill an operator's last slot (Q8);
* the conversation is then locked and must still be ``queued``: of two routers
  racing for one conversation, exactly one offers it, the other does nothing
  (the offer's write is the ``UPDATE`` that takes this lock and re-checks it,
  see :mod:`~channels_app.engine.routing_sql`).

Decisions are made on an unlocked snapshot and verified under the locks.
Evenly skips an operator whose row another router holds at that instant (they
are being given a conversation right now) instead of queueing behind them.
If a verification fails the attempt is rolled back to its savepoint, which
releases its locks, and the decision is made again; the last attempt locks
every candidate first, so it always completes.

:func:`channel_redistribute` (the 2-minute retry and the instant triggers of
Q9) routes a channel's queue in batches: it locks every candidate operator
first, claims a batch of waiting conversations with ``skip_locked``, and
decides them one after the other on the same snapshot, counting each new
offer before the next decision. The policy is the same pure
:func:`~channels_app.policy.distribution.choose`; only the round trips are shared.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from channels_app.engine import (
    availability,
    events,
    instruments,
    jobs,
    locks,
    messages,
    prepared,
    routing_sql,
    transitions,
)
from channels_app.engine.calendars import calendar_for
from channels_app.engine.routing_sql import parse_time
from channels_app.engine.signals import after_commit
from channels_app.models import (
    Connector,
    Conversation,
    ConversationStatus,
    DistributionMode,
    Holiday,
    Offer,
    OpenChannel,
    OperatorProfile,
    QueueMember,
    RoutingDecision,
    WorkingPeriod,
    compose_display_name,
    routable_now,
)
from channels_app.policy import distribution, schedule
from channels_app.policy.chat_limit import HELD_OFFERED, HeldBucket

logger = logging.getLogger(__name__)

OUTCOME_OFFERED = distribution.OUTCOME_OFFERED
OUTCOME_NOBODY_ELIGIBLE = distribution.OUTCOME_NOBODY_ELIGIBLE
OUTCOME_OUT_OF_HOURS = "out_of_hours"
OUTCOME_NEVER_OPENS = "never_opens"

ATTEMPTS = 4  # the last one is pessimistic and always completes
EVENLY_SKIP_LIMIT = 16  # busy operators skipped before waiting for the best one's lock
BATCH_SIZE = 100  # conversations decided per transaction by channel_redistribute
REDISTRIBUTE_LIMIT = 2000  # conversations one redistribution looks at


class _StaleSnapshot(Exception):
    """The unlocked snapshot no longer holds under the locks: decide again."""


class _Presence(NamedTuple):
    """The OperatorProfile fields routing reads (a locked OperatorProfile row has the same attributes)."""

    clocked_in: bool
    on_break: bool
    console_heartbeat_at: datetime | None
    last_activity_at: datetime | None
    availability: str  # the operator's own Available / Away / Offline


class _Candidate(NamedTuple):
    """An operator who may be offered the conversation, read as plain values (50 per decision)."""

    operator_id: int
    name: str
    is_active: bool
    position: int | None  # None: a responsible person outside the queue (C4)
    presence: _Presence | None  # None: the operator never had a profile


def _candidate(row: list) -> _Candidate:
    """One JSON array of :data:`~channels_app.engine.routing_sql.BATCH_CONTEXT_SQL`'s candidates."""
    user_id, position, is_active, username, first, last, display_name, profile_id = row[:8]
    clocked_in, on_break, heartbeat, activity, chosen = row[8:]
    name = compose_display_name(profile_name=display_name, first_name=first, last_name=last, username=username)
    presence = None
    if profile_id is not None:
        presence = _Presence(clocked_in, on_break, parse_time(heartbeat), parse_time(activity), chosen)
    return _Candidate(user_id, name, is_active, position, presence)


@dataclass
class _Context:
    """What one decision needs besides the operators' snapshots."""

    channel: OpenChannel
    rules: distribution.RoutingRules
    members: dict[int, _Candidate]  # queue members by operator id
    outsiders: dict[int, _Candidate] = field(default_factory=dict)  # responsible people outside the queue
    responsible_id: int | None = None  # C4, when that rule applies to this conversation
    tried: frozenset[int] = frozenset()
    last_offered_position: int | None = None

    @property
    def candidate_ids(self) -> list[int]:
        return sorted({*self.members, *self.outsiders})

    def candidate(self, user_id: int) -> _Candidate | None:
        return self.members.get(user_id) or self.outsiders.get(user_id)

    def chosen_candidate(self, user_id: int) -> _Candidate:
        """An operator a decision on this context chose: decisions choose only among its candidates."""
        candidate = self.candidate(user_id)
        if candidate is None:
            raise LookupError(f"operator {user_id} was chosen but is not a candidate of this decision")
        return candidate


def conversation_route(*, conversation_id: int, now: datetime, trigger: str) -> RoutingDecision | None:
    """Offer a waiting conversation to the operator(s) the open channel's rules pick, and record why.

    1. Only a ``queued`` conversation of an active channel, whose
       ``route_not_before`` (H2) has passed, is routed; anything else returns
       ``None`` and changes nothing (so a duplicate task is harmless).
    2. Outside working hours (H2) the client gets the out-of-hours reply once
       per closed period and the conversation waits for the next opening.
    3. C4 first, when on: the client's responsible person, else the queue (Q2, Q5, Q8).
    4. Lock, verify and write (see the module docstring); the offers, the
       ``offered`` status and a :class:`RoutingDecision` with every operator's
       reasons are saved together, and consoles hear of them after commit.
    5. Nobody eligible (Q9): the conversation stays queued and the client is
       told once. A "nobody eligible" decision identical to the previous one
       is returned unsaved (``pk`` is ``None``) so the 2-minute retry does not
       pile up identical rows.
    """
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                return _route_once(conversation_id, now, trigger, pessimistic=attempt == ATTEMPTS - 1)
        except _StaleSnapshot:
            logger.debug("Routing #%s: snapshot went stale (attempt %d)", conversation_id, attempt + 1)
    raise AssertionError("the pessimistic attempt cannot go stale")  # pragma: no cover


def channel_redistribute(*, open_channel_id: int, now: datetime, trigger: str, limit: int = REDISTRIBUTE_LIMIT) -> int:
    """Q9: route the channel's waiting conversations now, oldest first; returns how many were offered.

    1. Outside working hours each conversation goes through
       :func:`conversation_route`, which replies once and sets the wait (H2).
    2. Otherwise batches of up to :data:`BATCH_SIZE` are routed, one
       transaction per batch (see the module docstring).
    3. Once nobody is eligible the rest of the queue would fare the same, so
       the pass stops (unless C4 routing may still find a responsible person).
    """
    channel = OpenChannel.objects.filter(pk=open_channel_id, is_active=True).first()
    if channel is None:
        return 0
    waiting_ids = (
        Conversation.objects.routable(now)
        .filter(open_channel_id=open_channel_id)
        .order_by("queued_at", "id")
        .values_list("id", flat=True)
    )
    if channel.working_hours_enabled and not schedule.is_open(calendar_for(channel), now):
        for conversation_id in waiting_ids[:limit]:
            conversation_route(conversation_id=conversation_id, now=now, trigger=trigger)
        return 0
    offered = 0
    while limit > 0:
        size = min(BATCH_SIZE, limit)
        with transaction.atomic():
            claimed, batch_offered, nobody_eligible = _route_batch(channel, size, now, trigger)
        offered += batch_offered
        limit -= size
        if not claimed or (nobody_eligible and not channel.route_to_responsible):
            break
    return offered


def conversation_requeue(
    conversation: Conversation, *, now: datetime, reason: str, trigger: str, actor_id: int | None = None
) -> None:
    """Put a conversation the caller has locked back in the queue and route it after commit.

    Pending offers are withdrawn and the holder (if any) is released. The
    caller holds the conversation row; releasing a holder only lowers their
    chat-limit count, which needs no operator lock (see :mod:`~channels_app.engine.locks`).
    """
    previous_operator_id = conversation.operator_id
    transitions.withdraw_pending_offers(conversation, now=now, reason=reason)
    conversation.queued_at = now
    conversation.route_not_before = None
    transitions.set_status(
        conversation,
        to_status=ConversationStatus.QUEUED,
        now=now,
        reason=reason,
        operator_id=None,
        extra_fields=["queued_at", "route_not_before"],
        actor_id=actor_id,
    )
    events.publish_to_conversation(
        conversation,
        events.conversation_status(conversation, previous_operator_id=previous_operator_id, reason=reason),
        operator_ids=[previous_operator_id],
    )
    request_route(conversation.pk, now=now, trigger=trigger)


# --- one attempt ------------------------------------------------------------------------------------------


def _route_once(conversation_id: int, now: datetime, trigger: str, *, pessimistic: bool) -> RoutingDecision | None:
    loaded = _route_snapshot(conversation_id, now)
    if loaded is None:
        return None
    context, loads = loaded
    channel = context.channel

    if channel.working_hours_enabled:
        calendar = calendar_for(channel)
        if not schedule.is_open(calendar, now):
            return _wait_for_opening(conversation_id, calendar, now, trigger)

    if pessimistic:
        locked = locks.lock_operators(context.candidate_ids)
        snapshots = _snapshots(context, context.candidate_ids, now, locked_profiles=locked)
        decision = _decide(context, snapshots)
    else:
        snapshots = _snapshots(context, context.candidate_ids, now, loads=loads)
        decision = _decide_and_lock(context, snapshots, now)

    if decision.chosen:
        # The write locks the conversation and re-checks that it is still waiting in this channel.
        written = _write_offers([(conversation_id, context, decision)], now, trigger)
        return written[0] if written else None
    locked_conversation = locks.lock_conversation(conversation_id)
    if (
        locked_conversation is None
        or not locked_conversation.is_routable(now)
        or locked_conversation.open_channel_id != channel.pk
    ):
        return None
    return _record_nobody_eligible(locked_conversation, decision, now, trigger)


def _route_snapshot(conversation_id: int, now: datetime) -> tuple[_Context, availability.OperatorLoads] | None:
    """One round trip: the conversation's channel and decision context, and its candidates' loads; ``None`` when
    it is not routable now (gone, not queued, waiting for working hours, or its channel switched off)."""
    row = prepared.fetchone(routing_sql.ROUTE_SNAPSHOT_SQL, {"conversation": conversation_id, "now": now})
    if row is None:
        return None
    status, route_not_before, _queued_at, responsible_id = row[:4]
    channel = routing_sql.CHANNEL.instance(row, 4, using=connection.alias)
    candidates, offers, held = row[4 + len(routing_sql.CHANNEL) :]
    if not routable_now(status, route_not_before, now) or not channel.is_active:
        return None
    context = _contexts(channel, {conversation_id: responsible_id}, candidates, offers)[conversation_id]
    return context, availability.OperatorLoads.from_rows(held or (), parse_time=parse_time)


def _route_batch(channel: OpenChannel, size: int, now: datetime, trigger: str) -> tuple[int, int, bool]:
    """Route up to ``size`` of one channel's waiting conversations in the caller's transaction.

    1. Lock every candidate operator (queue members, and with C4 the
       responsible people of the conversations read just before), in user-id order.
    2. Claim the oldest conversations still waiting with ``skip_locked``:
       another router busy with some of them is not waited for.
    3. Snapshot the operators once, under the locks, and decide each
       conversation in queue order; every offer made is added to the chosen
       operators' snapshots before the next decision (limit and Evenly order).
    4. Stop at the first conversation nobody can take (recorded as such).
    5. Write all offers, statuses and decisions in a few bulk statements.

    Returns (conversations claimed, conversations offered, whether one found nobody eligible).
    """
    waiting = Conversation.objects.routable(now).filter(open_channel=channel).order_by("queued_at", "id")
    if channel.route_to_responsible:
        # The responsible people must be locked before the conversations, so read who they are first.
        read_first = list(waiting.select_related("client__contact")[:size])
        contexts = _context_for(channel, read_first)
        candidate_ids = sorted({user_id for context in contexts.values() for user_id in context.candidate_ids})
        locked = locks.lock_operators(candidate_ids)
        queued_at_when_read = {conversation.pk: conversation.queued_at for conversation in read_first}
        claimable = waiting.filter(pk__in=list(queued_at_when_read))
    else:
        if not waiting.exists():
            # Most triggers (an operator coming online, an offer declined) find nothing waiting: locking every
            # queue member first would cost what the queue is long, for nothing (10,000 consoles connecting).
            return 0, 0, False
        contexts = None
        candidate_ids = sorted(QueueMember.objects.filter(open_channel=channel).values_list("operator_id", flat=True))
        locked = locks.lock_operators(candidate_ids)
        claimable = waiting
    claimed = list(
        claimable.select_for_update(skip_locked=True, of=("self",)).select_related(
            "open_channel", "client__connector", "connector"
        )[:size]
    )
    if not claimed:
        return 0, 0, False
    if contexts is None:
        contexts = _context_for(channel, claimed)
        queued_at_when_read = {conversation.pk: conversation.queued_at for conversation in claimed}
    any_context = next(iter(contexts.values()))
    everyone = replace(
        any_context, outsiders={k: v for c in contexts.values() for k, v in c.outsiders.items()}, tried=frozenset()
    )
    snapshots = _snapshots(everyone, candidate_ids, now, locked_profiles=locked)
    plans = []
    nobody_eligible = False
    for conversation in claimed:
        context = contexts.get(conversation.pk)
        if context is None or conversation.queued_at != queued_at_when_read.get(conversation.pk):
            continue  # changed since the unlocked read: the next pass decides it afresh
        decision = _decide(context, _with_tried(snapshots, context.tried))
        if not decision.chosen:
            _record_nobody_eligible(conversation, decision, now, trigger)
            nobody_eligible = True
            if not channel.route_to_responsible:
                break
            continue
        plans.append((conversation.pk, context, decision))
        stamps = decision.mode in (DistributionMode.EVENLY, DistributionMode.STRICTLY_IN_ORDER)
        for user_id in decision.chosen:
            before = snapshots[user_id]
            snapshots[user_id] = replace(
                before,
                held=(*before.held, HeldBucket(kind=HELD_OFFERED)),
                last_assigned_at=now if stamps else before.last_assigned_at,
            )
    offered = _write_offers(plans, now, trigger)
    return len(claimed), len(offered), nobody_eligible


def _with_tried(
    snapshots: dict[int, distribution.OperatorSnapshot], tried: frozenset[int]
) -> dict[int, distribution.OperatorSnapshot]:
    if not tried:
        return snapshots
    return {
        user_id: replace(snapshot, already_tried=True) if user_id in tried else snapshot
        for user_id, snapshot in snapshots.items()
    }


def _context_for(channel: OpenChannel, conversations: list[Conversation]) -> dict[int, _Context]:
    """The decision context of each conversation: queue, C4 responsible person, and this round's offers."""
    responsible_ids: dict[int, int | None] = {}
    for conversation in conversations:
        responsible_ids[conversation.pk] = None
        contact = conversation.client.contact if channel.route_to_responsible else None
        if contact is not None:
            responsible_ids[conversation.pk] = contact.responsible_id
    candidates, offers = prepared.fetchrow(
        routing_sql.BATCH_CONTEXT_SQL,
        {
            "channel": channel.pk,
            "ids": [conversation.pk for conversation in conversations],
            "queued_at": [conversation.queued_at for conversation in conversations],
            "responsible": list(responsible_ids.values()),
        },
    )
    return _contexts(channel, responsible_ids, candidates, offers)


def _contexts(
    channel: OpenChannel, responsible_ids: dict[int, int | None], candidates: list | None, offers: list | None
) -> dict[int, _Context]:
    """Contexts from the candidates and offers of :data:`~channels_app.engine.routing_sql.BATCH_CONTEXT_SQL`
    (or of the route snapshot), for conversations given with their C4 responsible person (or ``None``)."""
    members: dict[int, _Candidate] = {}
    outsiders: dict[int, _Candidate] = {}
    for row in candidates or ():
        candidate = _candidate(row)
        (members if candidate.position is not None else outsiders)[candidate.operator_id] = candidate
    tried: dict[int, set[int]] = {conversation_id: set() for conversation_id in responsible_ids}
    last_position: dict[int, int | None] = {}
    for conversation_id, operator_id, status, position in offers or ():  # this round's, oldest first
        if status in (Offer.Status.DECLINED, Offer.Status.EXPIRED):
            tried[conversation_id].add(operator_id)
        last_position[conversation_id] = position

    rules = availability.rules_for(channel)
    contexts = {}
    for conversation_id, responsible_id in responsible_ids.items():
        responsible = members.get(responsible_id) or outsiders.get(responsible_id) if responsible_id else None
        contexts[conversation_id] = _Context(
            channel=channel,
            rules=rules,
            members=members,
            outsiders={responsible.operator_id: responsible}
            if responsible is not None and responsible.position is None
            else {},
            responsible_id=responsible.operator_id if responsible is not None else None,
            tried=frozenset(tried[conversation_id]),
            last_offered_position=last_position.get(conversation_id),
        )
    return contexts


def _snapshots(
    context: _Context,
    user_ids: list[int],
    now: datetime,
    *,
    locked_profiles: Mapping[int, _Presence | OperatorProfile] | None = None,
    loads: availability.OperatorLoads | None = None,
) -> dict[int, distribution.OperatorSnapshot]:
    """The policy's view of these candidates: presence from ``locked_profiles`` (rows the caller locked, fresh)
    or from the context's read; loads, leave and last assignment from ``loads`` or read now."""
    if loads is None:
        loads = availability.operator_loads(user_ids, now)
    snapshots = {}
    for user_id in user_ids:
        candidate = context.candidate(user_id)
        if candidate is None:
            continue
        profile = locked_profiles.get(user_id) if locked_profiles is not None else candidate.presence
        snapshots[user_id] = distribution.OperatorSnapshot(
            operator_id=user_id,
            name=candidate.name,
            position=candidate.position,
            is_active=candidate.is_active,
            on_leave=user_id in loads.on_leave,
            online=availability.operator_online(profile, context.channel, now),
            clocked_in=bool(profile and profile.clocked_in),
            on_break=bool(profile and profile.on_break),
            availability=profile.availability if profile else distribution.CHOSEN_AVAILABLE,
            last_assigned_at=loads.last_assigned.get(user_id),
            held=loads.held.get(user_id, ()),
            already_tried=user_id in context.tried,
        )
    return snapshots


def _decide(
    context: _Context,
    snapshots: dict[int, distribution.OperatorSnapshot],
    busy_ids: frozenset[int] = frozenset(),
) -> distribution.Decision:
    """C4 first (when it applies), then the channel's mode over the queue members."""
    responsible_entry = None
    if context.responsible_id is not None and context.responsible_id in snapshots:
        by_responsible = distribution.choose_responsible(snapshots[context.responsible_id], context.rules)
        if by_responsible.chosen:
            return by_responsible
        responsible_entry = by_responsible.considered[0]
    queue = [snapshot for user_id, snapshot in snapshots.items() if user_id in context.members]
    decision = distribution.choose(
        queue, context.rules, last_offered_position=context.last_offered_position, busy_ids=busy_ids
    )
    if responsible_entry is not None:
        considered = tuple(entry for entry in decision.considered if entry.operator_id != responsible_entry.operator_id)
        decision = replace(decision, considered=(responsible_entry, *considered))
    return decision


def _decide_and_lock(
    context: _Context, snapshots: dict[int, distribution.OperatorSnapshot], now: datetime
) -> distribution.Decision:
    """Decide on the unlocked snapshot, lock the chosen operators, and verify the choice still holds.

    1. Decide. Evenly (one operator): try the chosen operator's lock without
       waiting; if another router holds it, they are being given a conversation
       right now, so decide again without them ("busy").
    2. Re-read the locked operators (limit count, presence, last assignment)
       and decide again on that fresh view. The same choice is final (the
       locks are held, nothing can change it); another Evenly choice repeats
       step 1 for that operator.
    3. Other modes (and Evenly after too many busy operators) wait for the
       chosen operators' locks, which is only allowed while holding none.

    Raises :class:`_StaleSnapshot` when the choice cannot be confirmed (the
    caller rolls back, releasing every lock taken here, and decides again).
    """
    snapshots = dict(snapshots)
    busy: set[int] = set()
    held: dict[int, _Presence | OperatorProfile] = {}  # operators locked (and re-read) in this attempt
    for _ in range(2 * len(snapshots) + 2):
        decision = _decide(context, snapshots, frozenset(busy))
        if not decision.chosen:
            return decision
        chosen = list(decision.chosen)
        if all(user_id in held for user_id in chosen):
            return decision
        missing = [user_id for user_id in chosen if context.chosen_candidate(user_id).presence is None]
        if missing:
            locks.ensure_profiles(missing)
        single_evenly = decision.mode == DistributionMode.EVENLY and len(chosen) == 1
        if single_evenly and chosen[0] not in busy and len(busy) < EVENLY_SKIP_LIMIT:
            presence = locks.try_lock_operator(chosen[0])
            if presence is None:
                busy.add(chosen[0])
                continue
            locked: Mapping[int, _Presence | OperatorProfile] = {chosen[0]: _Presence(*presence)}
        elif held:
            raise _StaleSnapshot  # waiting for a lock while holding others could deadlock
        else:
            locked = locks.lock_operators(chosen)
        held.update(locked)
        fresh = _snapshots(context, list(locked), now, locked_profiles=locked)
        if set(fresh) != set(locked):
            raise _StaleSnapshot
        snapshots.update(fresh)  # decide again on what the locks guarantee; the same choice is then final
    raise _StaleSnapshot


# --- writing the outcome ----------------------------------------------------------------------------------


def _write_offers(
    plans: list[tuple[int, _Context, distribution.Decision]], now: datetime, trigger: str
) -> list[RoutingDecision]:
    """Offer each conversation (by id) as decided, if it is still waiting in the channel; the caller holds the
    chosen operators' locks.

    One statement (:data:`~channels_app.engine.routing_sql.WRITE_OFFERS_SQL`) locks the conversations, re-checks
    them and saves the offers, the ``offered`` status and the decisions; the events go out after commit.
    Returns the decisions saved, in the order of ``plans``.
    """
    if not plans:
        return []
    channel = plans[0][1].channel  # a batch is one channel's
    offers: list[Offer] = []
    records: list[RoutingDecision] = []
    stamped: set[int] = set()
    for conversation_id, context, decision in plans:
        expires_at = now + timedelta(seconds=context.channel.offer_timeout_seconds)
        for user_id in decision.chosen:
            member = context.members.get(user_id)
            offers.append(
                Offer(
                    conversation_id=conversation_id,
                    operator_id=user_id,
                    created_at=now,
                    expires_at=expires_at,
                    queue_position=member.position if member else None,
                )
            )
        records.append(
            RoutingDecision(
                conversation_id=conversation_id,
                created_at=now,
                trigger=trigger,
                mode=decision.mode,
                outcome=decision.outcome,
                chosen=list(decision.chosen),
                candidates=decision.candidates_json(),
            )
        )
        if decision.mode in (DistributionMode.EVENLY, DistributionMode.STRICTLY_IN_ORDER):
            # Evenly: an offer is the assignment, so the next choice already sees it (see distribution.py).
            stamped.update(decision.chosen)
    rows = prepared.fetchall(
        routing_sql.WRITE_OFFERS_SQL,
        {
            "now": now,
            "trigger": trigger,
            "channel": channel.pk,
            "offer_conversations": [offer.conversation_id for offer in offers],
            "offer_operators": [offer.operator_id for offer in offers],
            "offer_positions": [offer.queue_position for offer in offers],
            "offer_expiry": [offer.expires_at for offer in offers],
            "conversations": [conversation_id for conversation_id, _context, _decision in plans],
            "decisions": json.dumps(
                [
                    [
                        record.conversation_id,
                        f"offered by {record.mode} ({trigger})"[:120],
                        record.mode,
                        record.outcome,
                        record.chosen,
                        record.candidates,
                    ]
                    for record in records
                ]
            ),
            "stamped": sorted(stamped),
        },
    )
    if not rows:
        return []
    by_conversation = {}
    for row in rows:
        conversation = _offered_conversation(row)
        conversation.open_channel = channel
        by_conversation[conversation.pk] = conversation
    offer_ids, record_ids = rows[0][-2:]
    offer_pk = {(conversation_id, operator_id): pk for pk, conversation_id, operator_id in offer_ids or ()}
    record_pk = {conversation_id: pk for pk, conversation_id in record_ids}
    offers = [offer for offer in offers if offer.conversation_id in by_conversation]
    records = [record for record in records if record.conversation_id in by_conversation]
    for offer in offers:
        offer.pk = offer_pk[(offer.conversation_id, offer.operator_id)]
        offer.conversation = by_conversation[offer.conversation_id]
    for record in records:
        record.pk = record_pk[record.conversation_id]
        record.conversation = by_conversation[record.conversation_id]
    for instance in (*offers, *records):
        instance._state.adding = False
        instance._state.db = connection.alias
    instruments.count_routing_decisions(record.outcome for record in records)
    for offer in offers:
        events.publish([events.operator_group(offer.operator_id)], events.offer_created(offer, offer.conversation))
    for conversation in by_conversation.values():
        events.publish([events.conversation_group(conversation.pk)], events.conversation_status(conversation))
    events.nudge_wallboards(conversation.open_channel_id for conversation in by_conversation.values())
    return records


def _offered_conversation(row: tuple) -> Conversation:
    """A conversation of :data:`~channels_app.engine.routing_sql.WRITE_OFFERS_SQL`'s rows, with its client and
    the client's connector (id and kind; any other field loads on access)."""
    alias = connection.alias
    conversation = routing_sql.CONVERSATION.instance(row, using=alias)
    client = routing_sql.CLIENT.instance(row, len(routing_sql.CONVERSATION), using=alias)
    client.connector = Connector.from_db(alias, ["id", "kind"], row[-4:-2])
    conversation.client = client
    return conversation


def _record_decision_once(conversation: Conversation, *, now, trigger, mode, outcome, candidates) -> RoutingDecision:
    record = RoutingDecision(
        conversation=conversation,
        created_at=now,
        trigger=trigger,
        mode=mode,
        outcome=outcome,
        chosen=[],
        candidates=candidates,
    )
    previous = (
        RoutingDecision.objects.filter(conversation=conversation)
        .order_by("-created_at", "-id")
        .values("outcome", "mode", "candidates")
        .first()
    )
    if previous != {"outcome": outcome, "mode": mode, "candidates": candidates}:
        record.save()
        instruments.count_routing_decisions([outcome])
    return record


def _record_nobody_eligible(
    conversation: Conversation, decision: distribution.Decision, now: datetime, trigger: str
) -> RoutingDecision:
    record = _record_decision_once(
        conversation,
        now=now,
        trigger=trigger,
        mode=decision.mode,
        outcome=decision.outcome,
        candidates=decision.candidates_json(),
    )
    if conversation.nobody_available_notified_at is None:
        messages.send_system_message(
            conversation, key="nobody_available", text=conversation.open_channel.nobody_available_text, now=now
        )
        conversation.nobody_available_notified_at = now
        conversation.save(update_fields=["nobody_available_notified_at"])
    return record


def _wait_for_opening(
    conversation_id: int, calendar: schedule.WorkingCalendar, now: datetime, trigger: str
) -> RoutingDecision | None:
    """H2: outside working hours, reply once per closed period and wait for the next opening."""
    conversation = locks.lock_conversation(conversation_id)
    if conversation is None or not conversation.is_routable(now):
        return None
    channel = conversation.open_channel
    opening = schedule.next_opening(calendar, now)
    conversation.route_not_before = opening
    fields = ["route_not_before"]
    if opening is not None and channel.out_of_hours_reply_enabled:
        key = f"out_of_hours:{opening.isoformat()}"
        if messages.send_system_message(conversation, key=key, text=channel.out_of_hours_text, now=now):
            conversation.out_of_hours_notified_at = now
            fields.append("out_of_hours_notified_at")
    conversation.save(update_fields=fields)
    if opening is not None:
        after_commit(partial(schedule_opening_redistribution, channel.pk, opening))
    return _record_decision_once(
        conversation,
        now=now,
        trigger=trigger,
        mode=channel.distribution_mode,
        outcome=OUTCOME_OUT_OF_HOURS if opening is not None else OUTCOME_NEVER_OPENS,
        candidates=[],
    )


def schedule_opening_redistribution(open_channel_id: int, opening: datetime) -> None:
    """Q9, H2: route the channel's queue the moment working hours begin (the 2-minute retry is the fallback).

    One Celery task per channel and opening, however many conversations wait for it.
    """
    key = f"engine:hours-open:{open_channel_id}:{opening.isoformat()}"
    # The clock only sizes the cache entry's lifetime; every routing rule uses the caller's ``now``.
    if cache.add(key, 1, timeout=int(max((opening - timezone.now()).total_seconds(), 0)) + 3600):
        jobs.enqueue(jobs.REDISTRIBUTE_OPEN_CHANNEL, open_channel_id, "hours_open", eta=opening)


# --- routing requested by other services, run after their commit ------------------------------------------


def request_route(conversation_id: int, *, now: datetime, trigger: str) -> None:
    """Route the conversation once this transaction commits (in its own transaction, as the lock order needs)."""
    after_commit(partial(conversation_route, conversation_id=conversation_id, now=now, trigger=trigger))


def request_redistribution(open_channel_ids: Iterable[int], *, now: datetime, trigger: str) -> None:
    """Q9: once this transaction commits, route the waiting conversations of these channels at once."""
    channel_ids = sorted(set(open_channel_ids))
    if channel_ids:
        after_commit(partial(_redistribute, channel_ids, now, trigger))


# Instant redistribution runs in the process of the service that triggered it (often a console's
# socket); a long queue beyond this many conversations is left to a Celery task.
INLINE_REDISTRIBUTION_LIMIT = 100


def _redistribute(channel_ids: list[int], now: datetime, trigger: str) -> None:
    for channel_id in channel_ids:
        offered = channel_redistribute(
            open_channel_id=channel_id, now=now, trigger=trigger, limit=INLINE_REDISTRIBUTION_LIMIT
        )
        if offered >= INLINE_REDISTRIBUTION_LIMIT:
            try:
                jobs.enqueue(jobs.REDISTRIBUTE_OPEN_CHANNEL, channel_id, trigger)
            except Exception:
                # The 2-minute retry sweep routes the rest; the broker being down must not fail the caller.
                logger.exception("Could not queue the redistribution of open channel %s", channel_id)


# --- a change of configuration re-decides the channel's queue at once (issue 16, point 10) -------------------

REASON_MODE_CHANGED = "distribution mode changed (Q2)"
TRIGGER_SETTINGS_CHANGED = "settings_changed"


def channel_queue_reconsider(*, open_channel_id: int, now: datetime, trigger: str, redecide_offers: bool) -> int:
    """H1, H2, Q1, Q2, Q8: decide the channel's waiting conversations again under its settings as they are now.

    A change of configuration (hours switched off or edited, an operator added to the queue, the limit raised,
    the mode changed) must not leave a conversation waiting on what the old settings decided:

    1. A wait for the opening (``route_not_before``, H2) is lifted when the channel is open now (or its hours
       are off), and moved when the new hours open at another time. The client is not told again.
    2. With ``redecide_offers`` (the distribution mode changed) the pending offers are withdrawn and their
       conversations put back in the queue, so the new mode picks who is offered them.
    3. Once this commits the queue is redistributed (Q9).

    Returns how many conversations had their wait or their offers changed.
    """
    with transaction.atomic():
        channel = OpenChannel.objects.filter(pk=open_channel_id, is_active=True).first()
        if channel is None:
            return 0
        opening = None
        if channel.working_hours_enabled:
            calendar = calendar_for(channel)
            if not schedule.is_open(calendar, now):
                opening = schedule.next_opening(calendar, now)
        # Only the wait changes, not who holds the conversation: the conversation rows alone are locked.
        parked = list(
            Conversation.objects.select_for_update(of=("self",))
            .filter(open_channel=channel, status=ConversationStatus.QUEUED, route_not_before__gt=now)
            .exclude(route_not_before=opening)
            .order_by("id")
            .values_list("id", flat=True)
        )
        Conversation.objects.filter(pk__in=parked).update(route_not_before=opening)
        if parked and opening is not None:
            after_commit(partial(schedule_opening_redistribution, channel.pk, opening))
        redecided = 0
        if redecide_offers:
            offered_ids = Conversation.objects.filter(
                open_channel=channel, status=ConversationStatus.OFFERED
            ).values_list("id", flat=True)
            for conversation_id in sorted(offered_ids):
                conversation = locks.lock_conversation(conversation_id)
                if conversation is None or conversation.status != ConversationStatus.OFFERED:
                    continue  # taken or closed since the read
                conversation_requeue(conversation, now=now, reason=REASON_MODE_CHANGED, trigger=trigger)
                redecided += 1
        request_redistribution([channel.pk], now=now, trigger=trigger)
    return len(parked) + redecided


# Connected to model signals by ``ChannelsAppConfig.ready``. The admin saves a channel and then its inlines (hours,
# holidays, queue members), each in the same transaction: every save asks for a reconsideration after commit, and
# each finds the final settings; the passes after the first find nothing left to change.


def _reconsider_after_commit(open_channel_id: int, *, redecide_offers: bool = False) -> None:
    after_commit(
        partial(
            channel_queue_reconsider,
            open_channel_id=open_channel_id,
            now=timezone.now(),
            trigger=TRIGGER_SETTINGS_CHANGED,
            redecide_offers=redecide_offers,
        )
    )


def on_open_channel_saving(sender, instance: OpenChannel, **kwargs) -> None:
    """Remember the distribution mode before the save: only a change of mode re-decides pending offers."""
    if instance.pk is not None:
        instance._mode_before = (  # type: ignore[attr-defined]
            OpenChannel.objects.filter(pk=instance.pk).values_list("distribution_mode", flat=True).first()
        )


def on_open_channel_saved(sender, instance: OpenChannel, created: bool = False, **kwargs) -> None:
    if created:
        return
    mode_before = getattr(instance, "_mode_before", instance.distribution_mode)
    _reconsider_after_commit(instance.pk, redecide_offers=mode_before != instance.distribution_mode)


def on_calendar_changed(sender, instance: WorkingPeriod | Holiday, **kwargs) -> None:
    """H1: a working period or a holiday saved or deleted."""
    _reconsider_after_commit(instance.open_channel_id)


def on_queue_member_saved(sender, instance: QueueMember, **kwargs) -> None:
    """Q1: an operator joined the queue or moved in it (leaving it is Q10's, in ``access``)."""
    _reconsider_after_commit(instance.open_channel_id)
