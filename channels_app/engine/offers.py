"""Offers: an operator accepts or declines a conversation proposed to them (Q2, Q3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from channels_app.engine import availability, events, instruments, locks, transitions
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound
from channels_app.engine.queue import request_route
from channels_app.models import (
    Conversation,
    ConversationStatus,
    DistributionMode,
    Offer,
    QueueMember,
    RoutingDecision,
)
from channels_app.policy import distribution
from crm.models import Contact


def offer_accept(*, offer_id: int, operator, now: datetime) -> Conversation:
    """The operator takes the conversation offered to them.

    Locks the operator, then the conversation, and re-reads the offer: of two
    operators accepting the same To-all-at-once conversation, the first wins
    and the other gets a clear "already taken" error. Accepting again an offer
    one already accepted returns the conversation unchanged.
    """
    with transaction.atomic():
        offer = _offer_for(offer_id, operator)
        locks.lock_operators([operator.pk])
        conversation = locks.locked_conversation(offer.conversation_id)
        offer.refresh_from_db()
        if offer.status == Offer.Status.ACCEPTED and conversation.operator_id == operator.pk:
            return conversation
        _check_takeable(offer, conversation, now)
        take_conversation(conversation, offer=offer, operator_id=operator.pk, now=now)
        return conversation


def offer_decline(*, offer_id: int, operator, now: datetime) -> None:
    """The operator refuses the offer; the conversation moves on at once (Q3) unless others still hold offers."""
    with transaction.atomic():
        offer = _offer_for(offer_id, operator)
        locks.lock_operators([operator.pk])
        conversation = locks.locked_conversation(offer.conversation_id)
        offer.refresh_from_db()
        if offer.status in (Offer.Status.DECLINED, Offer.Status.EXPIRED, Offer.Status.WITHDRAWN):
            return
        if offer.status == Offer.Status.ACCEPTED:
            raise InvalidState(_("You have already accepted this conversation; transfer or close it instead."))
        declined = transitions.withdraw_pending_offers(
            conversation, now=now, reason="declined", status=Offer.Status.DECLINED, only=Q(pk=offer.pk)
        )
        if declined:
            move_on_if_unoffered(conversation, now=now, reason="offer declined (Q3)", trigger="offer_declined")


OUTCOME_TAKEN = "taken_from_queue"
TRIGGER_TAKEN = "taken_by_operator"


def conversation_take(*, conversation_id: int, operator, now: datetime) -> Conversation:
    """Q2, Q8: an operator takes a conversation waiting in the queue of an open channel they work in.

    The rules are routing's own (:func:`~channels_app.engine.availability.availability_for`): not dismissed,
    not on leave, clocked in and not on a break where the channel asks for it, under the channel's chat limit.
    Only the online rule (Q6) and the operator's own Away or Offline are waived: taking is the operator acting at
    the console, which is presence, and Away means no *offers*. The
    channel's working hours (H2) decide when routing offers, not what an operator may take: a conversation
    waiting for the opening may be taken.

    Locks the operator, then the conversation (the fixed order), and re-reads it: of two operators taking the
    same conversation at once the first wins and the other gets a clear "already taken" (409). A conversation
    offered to others is taken like an accepted offer: their offers are withdrawn. One offered to this operator
    is their offer accepted (their pending offer already counts toward their limit). Taking again what one
    already holds returns it unchanged. A :class:`~channels_app.models.RoutingDecision` records the take.
    """
    with transaction.atomic():
        profiles = locks.lock_operators([operator.pk])
        conversation = locks.locked_conversation(conversation_id)
        channel = conversation.open_channel
        if conversation.status == ConversationStatus.ACTIVE and conversation.operator_id == operator.pk:
            return conversation
        if not channel.is_active or not QueueMember.objects.filter(open_channel=channel, operator=operator).exists():
            raise NotAllowed(_("You are not in the queue of this open channel."))
        if conversation.status not in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
            if conversation.is_open and conversation.operator_id is not None:
                raise InvalidState(_("Another operator has already taken this conversation."))
            raise InvalidState(_("This conversation is no longer waiting for an operator."))
        own_offer = pending_offer_of(conversation, operator.pk)
        if own_offer is None:
            mine = availability.availability_for([operator], channel, now, profiles=profiles)[operator.pk]
            # Taking is acting at the console: neither the heartbeat nor the operator's own Away/Offline (no
            # *offers*) stands in the way of a conversation they pick themselves.
            waived = (distribution.REASON_OFFLINE, distribution.REASON_SET_AWAY, distribution.REASON_SET_OFFLINE)
            mine = replace(mine, obstacles=tuple(o for o in mine.obstacles if o.kind not in waived))
            if not mine.available:
                raise InvalidState(mine.explain(channel))
        take_conversation(
            conversation,
            offer=own_offer,
            operator_id=operator.pk,
            now=now,
            reason="taken from the queue",
            actor_id=operator.pk,
        )
        if own_offer is None and channel.distribution_mode in (
            DistributionMode.EVENLY,
            DistributionMode.STRICTLY_IN_ORDER,
        ):
            # Those modes stamp the time when they offer; a take is an assignment all the same (Evenly's order).
            transitions.stamp_last_assigned(channel.pk, [operator.pk], now)
        RoutingDecision.objects.create(
            conversation=conversation,
            created_at=now,
            trigger=TRIGGER_TAKEN,
            mode=channel.distribution_mode,
            outcome=OUTCOME_TAKEN,
            chosen=[operator.pk],
            candidates=[],
        )
        instruments.count_routing_decisions([OUTCOME_TAKEN])
        events.nudge_wallboards([channel.pk])
        return conversation


def take_conversation(
    conversation: Conversation,
    *,
    offer: Offer | None,
    operator_id: int,
    now: datetime,
    reason: str = "",
    actor_id: int | None = None,
) -> None:
    """Make ``operator_id`` the holder (the caller locked that operator, then the conversation).

    Used by accepting, by an operator's reply (which implies accepting) and by
    transfers. The other pending offers are withdrawn in the same transaction.
    """
    if offer is not None:
        Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.ACCEPTED, resolved_at=now)
        offer.status, offer.resolved_at = Offer.Status.ACCEPTED, now
    transitions.withdraw_pending_offers(
        conversation,
        now=now,
        reason="taken by another operator",
        except_offer_id=offer.pk if offer is not None else None,
    )
    previous_operator_id = conversation.operator_id
    if conversation.status in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
        # It was waiting (not a transfer between operators): how long is what the wait histogram shows.
        instruments.observe_wait(
            open_channel_id=conversation.open_channel_id, queued_at=conversation.queued_at, now=now
        )
    conversation.assigned_at = now
    extra = ["assigned_at"]
    if conversation.first_operator_id is None:
        conversation.first_operator_id = operator_id
        extra.append("first_operator")
        _first_operator_becomes_responsible(conversation, operator_id)
    reason = reason or ("accepted the offer" if offer is not None else "assigned")
    transitions.set_status(
        conversation,
        to_status=ConversationStatus.ACTIVE,
        now=now,
        reason=reason,
        operator_id=operator_id,
        extra_fields=extra,
        actor_id=actor_id,
    )
    if conversation.open_channel.distribution_mode not in (
        DistributionMode.EVENLY,
        DistributionMode.STRICTLY_IN_ORDER,
    ):
        # Evenly and Strictly in order stamped the time when they made the offer.
        transitions.stamp_last_assigned(conversation.open_channel_id, [operator_id], now)
    events.publish_to_conversation(
        conversation,
        events.conversation_assigned(conversation, reason=reason),
        operator_ids=[operator_id, previous_operator_id if previous_operator_id != operator_id else None],
    )


def move_on_if_unoffered(
    conversation: Conversation, *, now: datetime, reason: str, trigger: str, route: bool = True
) -> bool:
    """Q3: when no pending offer is left, the conversation is queued again (and routed after commit).

    Returns whether it was queued; a caller passing ``route=False`` routes it itself.
    """
    if conversation.status != ConversationStatus.OFFERED:
        return False
    if Offer.objects.filter(conversation=conversation, status=Offer.Status.PENDING).exists():
        return False
    transitions.set_status(conversation, to_status=ConversationStatus.QUEUED, now=now, reason=reason)
    events.publish_to_conversation(conversation, events.conversation_status(conversation, reason=reason))
    if route:
        request_route(conversation.pk, now=now, trigger=trigger)
    return True


def withdraw_offers_to_departed(
    operator_id: int, *, now: datetime, open_channel_id: int | None = None, why: str = "operator left the queue"
) -> int:
    """The operator left the open channel's queue (or, with no channel given, was dismissed, or set themselves
    Away or Offline: ``why`` says which): their pending offers there are withdrawn and each conversation moves on
    (Q3) at once, rather than waiting out the offer's time for someone who may no longer take it. One transaction
    per conversation, like the sweeps; the caller runs this after its own change committed. Returns how many
    offers were withdrawn.
    """
    pending = Offer.objects.filter(operator_id=operator_id, status=Offer.Status.PENDING)
    if open_channel_id is not None:
        pending = pending.filter(conversation__open_channel_id=open_channel_id)
    withdrawn = 0
    for conversation_id in sorted(set(pending.values_list("conversation_id", flat=True))):
        with transaction.atomic():
            conversation = locks.locked_conversation(conversation_id)
            done = transitions.withdraw_pending_offers(
                conversation, now=now, reason=why, only=Q(operator_id=operator_id)
            )
            if done:
                withdrawn += len(done)
                move_on_if_unoffered(conversation, now=now, reason=f"offered {why} (Q3)", trigger="operator_left")
    return withdrawn


def pending_offer_of(conversation: Conversation, operator_id: int) -> Offer | None:
    return Offer.objects.filter(conversation=conversation, operator_id=operator_id, status=Offer.Status.PENDING).first()


def _offer_for(offer_id: int, operator) -> Offer:
    offer = Offer.objects.filter(pk=offer_id).first()
    if offer is None:
        raise NotFound(_("This offer does not exist."))
    if offer.operator_id != operator.pk:
        raise NotAllowed(_("This offer was made to another operator."))
    return offer


def _check_takeable(offer: Offer, conversation: Conversation, now: datetime) -> None:
    if offer.status == Offer.Status.WITHDRAWN and conversation.operator_id not in (None, offer.operator_id):
        raise InvalidState(_("Another operator has already taken this conversation."))
    if offer.status == Offer.Status.EXPIRED or (offer.status == Offer.Status.PENDING and offer.expires_at <= now):
        raise InvalidState(_("This offer has expired; the conversation was passed on."))
    if offer.status != Offer.Status.PENDING:
        raise InvalidState(_("This offer is no longer available."))
    if conversation.status != ConversationStatus.OFFERED:
        raise InvalidState(_("This conversation is no longer waiting for an operator."))


def _first_operator_becomes_responsible(conversation: Conversation, operator_id: int) -> None:
    """C5 (off or on): a known client with nobody responsible gets the first operator who took the chat."""
    contact_id = conversation.client.contact_id
    if contact_id is None:
        return
    Contact.objects.filter(pk=contact_id, responsible__isnull=True).update(responsible_id=operator_id)
