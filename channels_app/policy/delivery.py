"""Which delivery state of an outbound message may follow which (issue 15, point 5).

An operator's (bot's, system's) message moves forward only:

    queued → sent → delivered → read
       ╲       ╲
        failed  failed (a provider may refuse after it took the message: WhatsApp's late ``failed`` status)

* Our sender moves ``queued`` to ``sent`` or ``failed``. A receipt (``delivered``,
  ``read``, ``failed`` reported by the provider or the widget) applies only to a
  message that went out (``sent`` or later): a receipt overtaking our own
  "sent" is dropped rather than letting a half-sent message look delivered.
* A state never goes back: a late "delivered" after "read" changes nothing, and
  "read" implies "delivered" (Messenger and the widget report read without it).
* ``failed`` is terminal until the operator retries, which puts it back to
  ``queued`` (:func:`may_retry`); a receipt of the part that did go out never
  turns a failed message into a delivered one.
* ``received`` is a client's message: it has no delivery to track.

Pure: plain strings in, a decision out. The model's ``Message.Delivery`` choices
are these same strings.
"""

from __future__ import annotations

RECEIVED = "received"
QUEUED = "queued"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"

# The forward order of a message that goes out; failed stands apart.
ORDER: tuple[str, ...] = (QUEUED, SENT, DELIVERED, READ)
# What a provider or the widget may report about a message that went out.
RECEIPTS = frozenset({DELIVERED, READ, FAILED})


def rank(state: str) -> int:
    """Position of ``state`` in the forward order (-1 for received and failed)."""
    return ORDER.index(state) if state in ORDER else -1


def delivery_after(current: str, reported: str) -> str | None:
    """The state a message in ``current`` moves to when ``reported`` arrives, or ``None``: no change.

    ``reported`` is ``sent`` / ``failed`` from our sender, or a receipt.
    """
    if current in (RECEIVED, FAILED) or reported == current:
        return None
    if current == QUEUED:
        # Only our sender settles a queued message; a receipt waits for the "sent" it overtook.
        return None if reported in (DELIVERED, READ) else reported if reported in (SENT, FAILED) else None
    if reported == FAILED:
        # A provider may refuse after accepting (WhatsApp); once delivered or read, the client has it.
        return FAILED if current == SENT else None
    if reported in ORDER and rank(reported) > rank(current):
        return reported
    return None


def may_retry(current: str) -> bool:
    """Only a failed message may be sent again (then it is ``queued``, resuming after the parts that went out)."""
    return current == FAILED
