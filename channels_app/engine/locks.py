"""Row locks in the one fixed order every service takes them, and the rows services start from.

Locking rules of every service (ARCHITECTURE.md, "Locking"):

* Row locks are taken in one order: ``OperatorProfile`` rows by user id, then
  the ``Conversation`` row (inbound takes the ``Client`` row before its
  conversation and no operator row). Nobody locks an operator after a
  conversation, so two services can never wait on each other in a cycle.
* Anything that can *raise* an operator's chat-limit count (a new offer, a
  transfer to them) holds that operator's row lock while it re-counts, so two
  routers cannot both fill the last slot. Lowering a count (closing,
  withdrawing, requeueing) needs only the conversation lock.
* Offers and messages of a conversation change only under its row lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from channels_app.engine import prepared
from channels_app.engine.errors import NotFound
from channels_app.models import ROUTING_PRESENCE_FIELDS, Conversation, OperatorProfile

# Evenly tries the chosen operator's row without waiting (another router holding it is giving them a conversation
# right now): the presence columns routing reads, or no row when it is held by someone else.
# Built from the model's column names only; the operator is a bound parameter.
TRY_LOCK_OPERATOR_SQL = f"""
    SELECT {", ".join(ROUTING_PRESENCE_FIELDS)}
      FROM channels_app_operatorprofile
     WHERE user_id = %(operator)s
       FOR UPDATE SKIP LOCKED
"""  # noqa: S608


def profile_for(user) -> OperatorProfile:
    """The operator's profile, created on demand for users who never had one."""
    profile, _ = OperatorProfile.objects.get_or_create(user_id=user.pk)
    return profile


def ensure_profiles(user_ids: Iterable[int]) -> None:
    wanted = set(user_ids)
    existing = set(OperatorProfile.objects.filter(user_id__in=wanted).values_list("user_id", flat=True))
    missing = wanted - existing
    if missing:
        OperatorProfile.objects.bulk_create(
            [OperatorProfile(user_id=user_id) for user_id in sorted(missing)], ignore_conflicts=True
        )


def lock_operators(user_ids: Iterable[int]) -> dict[int, OperatorProfile]:
    """Lock the operators' rows in user-id order (the first lock of the fixed order)."""
    ordered = sorted(set(user_ids))
    if not ordered:
        return {}
    ensure_profiles(ordered)
    profiles = OperatorProfile.objects.select_for_update().filter(user_id__in=ordered).order_by("user_id")
    return {profile.user_id: profile for profile in profiles}


def lock_conversation(conversation_id: int, *, skip_locked: bool = False) -> Conversation | None:
    """Lock the conversation row (after any operator rows). ``None`` when skipped or gone."""
    return (
        Conversation.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("open_channel", "client__connector", "connector")
        .filter(pk=conversation_id)
        .first()
    )


def locked_conversation(conversation_id: int) -> Conversation:
    """:func:`lock_conversation`, raising :class:`NotFound` when the conversation does not exist."""
    conversation = lock_conversation(conversation_id)
    if conversation is None:
        raise NotFound(_("This conversation does not exist."))
    return conversation


def get_conversation(conversation_id: int) -> Conversation:
    """The conversation, unlocked, with what services read first; :class:`NotFound` when it does not exist."""
    conversation = (
        Conversation.objects.select_related("open_channel", "client", "connector").filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise NotFound(_("This conversation does not exist."))
    return conversation


def try_lock_operator(user_id: int) -> tuple | None:
    """Lock the operator's row if nobody holds it, without waiting (Evenly's first try, see queue.py).

    Returns the presence columns of :data:`TRY_LOCK_OPERATOR_SQL`; ``None`` when another transaction holds the row
    (or the operator has no profile).
    """
    return prepared.fetchone(TRY_LOCK_OPERATOR_SQL, {"operator": user_id})
