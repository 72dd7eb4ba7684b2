"""Who gets a conversation, and why: the pure distribution policy (Q2, Q5, Q6, Q8, C4).

Nothing here touches the ORM or reads the clock. The routing service
(:mod:`channels_app.engine.queue`) loads plain :class:`OperatorSnapshot`
values, calls :func:`choose` (or :func:`choose_responsible`) and stores the
returned :class:`Decision`, whose ``considered`` list explains every operator:
eligible or not, and each reason for skipping them.

Modes (Q2)
    * **Evenly**: the eligible operator who has waited longest since their last
      assignment in *any* open channel (never assigned first), ties broken by
      queue position; the snapshot's ``last_assigned_at`` carries that latest
      time, so an operator in several queues is not given one conversation per
      queue at once. An Evenly offer *is* the assignment, so the service stamps
      ``QueueMember.last_assigned_at`` when it makes the offer: a burst of new
      conversations then rotates through the queue instead of piling onto the
      operator who happened to be idle longest.
    * **Strictly in order**: the first offer of a conversation goes to the
      first eligible operator in queue order; each forwarding goes to the next
      eligible operator after the one offered last, wrapping after the end.
    * **To all at once**: every eligible operator gets an offer; the first to
      accept wins (the service withdraws the others).

Rounds
    An operator who declined, or let expire, an offer of this conversation
    since it last entered the queue is skipped ("already declined/expired for
    this conversation") by Evenly and To-all-at-once, so the conversation moves
    on as Q3 asks. When every eligible operator has been tried, a new round
    starts and they are all candidates again: a conversation is never left
    unoffered while somebody can take it. Strictly in order needs no such rule:
    it always moves to the next position and wraps by definition.

Chat limit (Q8)
    Who is at their limit is counted by :mod:`channels_app.policy.chat_limit`;
    an operator at the limit gets no new offer.

Responsible person (C4)
    When the channel routes known clients to their responsible person, that
    person gets the offer even when not in the queue, under the Q5 rules
    except "online" and "under the limit".

Chosen availability (issue 20)
    The operator picks Available, Away or Offline in the console, whatever
    their clock-in. Away and Offline both mean "no new offers" in every
    channel, for the responsible person too: the choice is the operator's
    word, not a guess from their console's heartbeat. Away keeps them signed
    in and answering the conversations they hold; Offline also shows them as
    offline to colleagues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from channels_app.policy.chat_limit import EXCLUDE_ANSWERED, HeldBucket, chat_load

EVENLY = "evenly"
STRICTLY_IN_ORDER = "in_order"
ALL_AT_ONCE = "all_at_once"
RESPONSIBLE = "responsible"
MODES = (EVENLY, STRICTLY_IN_ORDER, ALL_AT_ONCE)

OUTCOME_OFFERED = "offered"
OUTCOME_NOBODY_ELIGIBLE = "nobody_eligible"

# Reasons are stored in RoutingDecision.candidates and shown to administrators as they are.
REASON_DISMISSED = "dismissed"
REASON_ON_LEAVE = "on leave"
REASON_OFFLINE = "offline"
REASON_NOT_CLOCKED_IN = "not clocked in"
REASON_ON_BREAK = "on a break"
REASON_AT_LIMIT = "at limit"  # stored as reason_at_limit(load, limit)
REASON_SET_AWAY = "set to away"
REASON_SET_OFFLINE = "set to offline"
REASON_ALREADY_TRIED = "already declined/expired for this conversation"
REASON_ASSIGNED_MORE_RECENTLY = "assigned more recently than the chosen operator"
REASON_LATER_IN_ORDER = "not next in queue order"
REASON_TIE_LATER_IN_QUEUE = "waited as long as the chosen operator, but later in the queue"
REASON_NEW_ROUND = "every eligible operator was tried: new round"
REASON_BUSY = "being given another conversation at this instant"
REASON_CHOSEN_EVENLY = "chosen: longest without a new conversation"
REASON_CHOSEN_IN_ORDER = "chosen: next in queue order"
REASON_CHOSEN_ALL = "offered together with every eligible operator"
REASON_CHOSEN_RESPONSIBLE = "chosen: the client's responsible person (C4)"
REASON_RESPONSIBLE_NOT_ELIGIBLE = "responsible person cannot take it: routed to the queue"


# What the operator chose in the console (OperatorProfile.availability holds the same values).
CHOSEN_AVAILABLE = "available"
CHOSEN_AWAY = "away"
CHOSEN_OFFLINE = "offline"


def reason_at_limit(load: int, limit: int) -> str:
    return f"at limit {load}/{limit}"


@dataclass(frozen=True)
class RoutingRules:
    """The open channel's settings that decide eligibility and the choice."""

    mode: str = EVENLY
    check_online: bool = True
    require_clocked_in: bool = False
    chat_limit: int | None = None  # None: no limit (Q8 off)
    chat_limit_exclusion: str = EXCLUDE_ANSWERED


@dataclass(frozen=True)
class OperatorSnapshot:
    """Everything the policy needs to know about one operator at the moment of the decision."""

    operator_id: int
    name: str
    position: int | None  # queue position; None for a responsible person outside the queue
    is_active: bool = True
    on_leave: bool = False
    online: bool = True
    clocked_in: bool = True
    on_break: bool = False
    last_assigned_at: datetime | None = None  # the latest in any open channel (Evenly)
    held: tuple[HeldBucket, ...] = ()
    already_tried: bool = False
    availability: str = CHOSEN_AVAILABLE  # the operator's own Available / Away / Offline

    def load(self, exclusion: str) -> int:
        return chat_load(self.held, exclusion)


class Considered(NamedTuple):
    """One operator as the decision saw them (a tuple: the batch router builds fifty per decision)."""

    operator_id: int
    name: str
    position: int | None
    eligible: bool
    reasons: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "operator_id": self.operator_id,
            "name": self.name,
            "position": self.position,
            "eligible": self.eligible,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Decision:
    """The outcome of one routing decision, with the reason for every operator considered."""

    mode: str
    outcome: str
    chosen: tuple[int, ...] = ()
    considered: tuple[Considered, ...] = field(default_factory=tuple)

    def candidates_json(self) -> list[dict[str, object]]:
        return [entry.as_json() for entry in self.considered]

    def reasons_for(self, operator_id: int) -> tuple[str, ...]:
        for entry in self.considered:
            if entry.operator_id == operator_id:
                return entry.reasons
        raise KeyError(operator_id)


class Obstacle(NamedTuple):
    """One Q5 rule an operator fails, with the figures a message about it needs (the load at the limit)."""

    kind: str  # one of the REASON_* constants, or REASON_AT_LIMIT
    load: int | None = None
    limit: int | None = None

    @property
    def reason(self) -> str:
        """The reason as routing stores it in RoutingDecision.candidates."""
        if self.kind == REASON_AT_LIMIT and self.load is not None and self.limit is not None:
            return reason_at_limit(self.load, self.limit)
        return self.kind


def obstacles(
    operator: OperatorSnapshot, rules: RoutingRules, *, ignore_online_and_limit: bool = False
) -> tuple[Obstacle, ...]:
    """Q5: every rule the operator fails right now (empty when eligible); routing and transfers both ask this.

    ``ignore_online_and_limit`` is the C4 variant for the responsible person; the operator's own Away or
    Offline holds for them too.
    """
    found: list[Obstacle] = []
    if not operator.is_active:
        found.append(Obstacle(REASON_DISMISSED))
    if operator.on_leave:
        found.append(Obstacle(REASON_ON_LEAVE))
    if operator.availability == CHOSEN_AWAY:
        found.append(Obstacle(REASON_SET_AWAY))
    elif operator.availability == CHOSEN_OFFLINE:
        found.append(Obstacle(REASON_SET_OFFLINE))
    if rules.check_online and not ignore_online_and_limit and not operator.online:
        found.append(Obstacle(REASON_OFFLINE))
    if rules.require_clocked_in:
        if not operator.clocked_in:
            found.append(Obstacle(REASON_NOT_CLOCKED_IN))
        elif operator.on_break:
            found.append(Obstacle(REASON_ON_BREAK))
    if rules.chat_limit is not None and not ignore_online_and_limit:
        load = operator.load(rules.chat_limit_exclusion)
        if load >= rules.chat_limit:
            found.append(Obstacle(REASON_AT_LIMIT, load=load, limit=rules.chat_limit))
    return tuple(found)


def ineligibility_reasons(
    operator: OperatorSnapshot, rules: RoutingRules, *, ignore_online_and_limit: bool = False
) -> tuple[str, ...]:
    """Q5: the reasons of :func:`obstacles` as routing stores them."""
    return tuple(
        obstacle.reason for obstacle in obstacles(operator, rules, ignore_online_and_limit=ignore_online_and_limit)
    )


def is_eligible(operator: OperatorSnapshot, rules: RoutingRules) -> bool:
    return not ineligibility_reasons(operator, rules)


def _queue_order(operator: OperatorSnapshot) -> tuple[int, int]:
    # Operators outside the queue (position None) sort after every queue member.
    return (operator.position if operator.position is not None else 2**31, operator.operator_id)


def _evenly_key(operator: OperatorSnapshot) -> tuple[int, datetime | None, int, int]:
    never_assigned = operator.last_assigned_at is None
    return (0 if never_assigned else 1, operator.last_assigned_at, *_queue_order(operator))


def _next_in_order(eligible: Sequence[OperatorSnapshot], last_offered_position: int | None) -> OperatorSnapshot:
    ordered = sorted(eligible, key=_queue_order)
    if last_offered_position is None:
        return ordered[0]
    for operator in ordered:
        if operator.position is not None and operator.position > last_offered_position:
            return operator
    return ordered[0]  # wrap after the last one


def choose(
    operators: Sequence[OperatorSnapshot],
    rules: RoutingRules,
    *,
    last_offered_position: int | None = None,
    busy_ids: frozenset[int] = frozenset(),
) -> Decision:
    """Q2, Q5: the operators to offer the conversation to, and why each other one was not.

    1. Work out every operator's Q5 ineligibility reasons.
    2. Evenly / To all at once: drop operators already tried for this
       conversation, unless that leaves nobody, which starts a new round.
    3. Evenly: drop ``busy_ids`` (operators another router is giving a
       conversation at this very instant, whose "last assigned" time is about
       to change) unless that leaves nobody.
    4. Pick by mode: the longest-waiting (Evenly), the next position after
       ``last_offered_position`` wrapping (Strictly in order), or everyone
       (To all at once).
    5. Return the choice and one :class:`Considered` per operator, in queue order.
    """
    if rules.mode not in MODES:
        raise ValueError(f"unknown distribution mode {rules.mode!r}")
    ordered = sorted(operators, key=_queue_order)
    reasons: dict[int, list[str]] = {op.operator_id: list(ineligibility_reasons(op, rules)) for op in ordered}
    eligible = [op for op in ordered if not reasons[op.operator_id]]

    pool = eligible
    if rules.mode != STRICTLY_IN_ORDER:
        untried = [op for op in eligible if not op.already_tried]
        if untried:
            for op in eligible:
                if op.already_tried:
                    reasons[op.operator_id].append(REASON_ALREADY_TRIED)
            pool = untried
        elif eligible:
            for op in eligible:
                reasons[op.operator_id].append(REASON_NEW_ROUND)

    if rules.mode == EVENLY and busy_ids:
        idle = [op for op in pool if op.operator_id not in busy_ids]
        if idle:
            for op in pool:
                if op.operator_id in busy_ids:
                    reasons[op.operator_id].append(REASON_BUSY)
            pool = idle

    chosen: list[OperatorSnapshot] = []
    if pool:
        if rules.mode == EVENLY:
            chosen = [min(pool, key=_evenly_key)]
            chosen_note, passed_over_note = REASON_CHOSEN_EVENLY, REASON_ASSIGNED_MORE_RECENTLY
        elif rules.mode == STRICTLY_IN_ORDER:
            chosen = [_next_in_order(pool, last_offered_position)]
            chosen_note, passed_over_note = REASON_CHOSEN_IN_ORDER, REASON_LATER_IN_ORDER
        else:
            chosen = list(pool)
            chosen_note, passed_over_note = REASON_CHOSEN_ALL, ""
        chosen_ids = {op.operator_id for op in chosen}
        for op in pool:
            if op.operator_id in chosen_ids:
                reasons[op.operator_id].append(chosen_note)
            elif rules.mode == EVENLY and op.last_assigned_at == chosen[0].last_assigned_at:
                reasons[op.operator_id].append(REASON_TIE_LATER_IN_QUEUE)
            else:
                reasons[op.operator_id].append(passed_over_note)

    chosen_ids = {op.operator_id for op in chosen}
    eligible_ids = {op.operator_id for op in eligible}
    considered = tuple(
        Considered(
            op.operator_id,
            op.name,
            op.position,
            op.operator_id in eligible_ids,
            tuple(reason for reason in reasons[op.operator_id] if reason),
        )
        for op in ordered
    )
    return Decision(
        mode=rules.mode,
        outcome=OUTCOME_OFFERED if chosen else OUTCOME_NOBODY_ELIGIBLE,
        chosen=tuple(op.operator_id for op in ordered if op.operator_id in chosen_ids),
        considered=considered,
    )


def choose_responsible(responsible: OperatorSnapshot, rules: RoutingRules) -> Decision:
    """C4: offer to the client's responsible person under Q5 minus the online and limit rules.

    An operator who already let this conversation's offer expire (or declined
    it) is not offered it again: the conversation goes to the queue instead.
    """
    reasons = list(ineligibility_reasons(responsible, rules, ignore_online_and_limit=True))
    if responsible.already_tried:
        reasons.append(REASON_ALREADY_TRIED)
    eligible = not reasons
    considered = Considered(
        operator_id=responsible.operator_id,
        name=responsible.name,
        position=responsible.position,
        eligible=eligible,
        reasons=(REASON_CHOSEN_RESPONSIBLE,) if eligible else (*reasons, REASON_RESPONSIBLE_NOT_ELIGIBLE),
    )
    return Decision(
        mode=RESPONSIBLE,
        outcome=OUTCOME_OFFERED if eligible else OUTCOME_NOBODY_ELIGIBLE,
        chosen=(responsible.operator_id,) if eligible else (),
        considered=(considered,),
    )
