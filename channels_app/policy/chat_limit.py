"""Q8: which held conversations count toward an operator's simultaneous-chat limit. Pure: no ORM, no clock.

The count covers the conversations an operator holds (``active`` and
``closed_pending_rating``) **and their pending offers**. Counting pending
offers is deliberate: with To-all-at-once an operator may hold several
offers at once, and accepting an offer must never take them above the
limit; counting the offer when it is made means accepting it changes
nothing. The three exclusions then remove:

* *answered*: conversations the holder has replied to since they got it,
  and closed ones waiting for a rating;
* *waiting for the client*: conversations whose last message is the
  operator's, and closed ones waiting for a rating;
* *closed*: only closed ones waiting for a rating.

A pending offer is never answered nor waiting for the client, so it counts
under every exclusion. The limit gates *new* offers: a client writing again
in a conversation the operator already holds (which can make it count again
under *waiting for the client*) is not taken away from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EXCLUDE_ANSWERED = "answered"
EXCLUDE_WAITING_FOR_CLIENT = "waiting_client"
EXCLUDE_CLOSED = "closed"

HELD_OFFERED = "offered"
HELD_ACTIVE = "active"
HELD_CLOSED_PENDING_RATING = "closed_pending_rating"


@dataclass(frozen=True)
class HeldBucket:
    """A count of conversations an operator holds that share the facts the Q8 exclusions look at.

    ``kind`` is :data:`HELD_OFFERED` (a pending offer), :data:`HELD_ACTIVE` or
    :data:`HELD_CLOSED_PENDING_RATING`. ``replied`` means the holder has
    answered since they got it; ``last_by_operator`` that the last message is
    the operator's (the conversation waits for the client).
    """

    kind: str
    replied: bool = False
    last_by_operator: bool = False
    count: int = 1


def counts_toward_limit(bucket: HeldBucket, exclusion: str) -> bool:
    """Q8: whether conversations like ``bucket`` count toward the simultaneous-chat limit."""
    if bucket.kind == HELD_CLOSED_PENDING_RATING:
        # Every one of the three exclusions leaves out closed conversations waiting for a rating.
        return False
    if bucket.kind == HELD_OFFERED:
        return True
    if exclusion == EXCLUDE_ANSWERED:
        return not bucket.replied
    if exclusion == EXCLUDE_WAITING_FOR_CLIENT:
        return not bucket.last_by_operator
    return True


def chat_load(held: Iterable[HeldBucket], exclusion: str) -> int:
    """Q8: how many of the held conversations count toward the limit under ``exclusion``."""
    return sum(bucket.count for bucket in held if counts_toward_limit(bucket, exclusion))
