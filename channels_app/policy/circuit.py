"""Issue 21: a connector's circuit breaker, and how long an outbound message keeps being retried.

A provider that stops answering (connections refused or reset, timeouts,
HTTP 5xx: *transport* failures) must not make every reply spend a worker on
its own retries. So each connector counts its transport failures in a row:

    reachable ──(threshold failures in a row)──▶ unreachable ──(probe due)──▶ probing
        ▲                                             ▲                          │
        └──────────────── a send succeeds ────────────┼──────────────────────────┤
                                                      └──── the probe fails ─────┘

* **reachable**: sends go out as usual; a success resets the count.
* **unreachable**: sends wait (the message stays queued, shown as delayed)
  without calling the provider, until the next probe is due.
* **probing**: one caller (the one that claimed the probe) calls the
  provider; everyone else keeps waiting. Success closes the breaker and the
  waiting messages go out in order; failure opens it again for another interval.

A refusal that is the provider's answer about one message (HTTP 4xx, a bad
recipient, a closed messaging window) says the provider is reachable: it is
not counted.

Pure: plain values in, a decision out. ``Reachability`` in the models holds
the same strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

REACHABLE = "reachable"
UNREACHABLE = "unreachable"
PROBING = "probing"

# What a sender may do now.
SEND = "send"
PROBE = "probe"
HOLD = "hold"


@dataclass(frozen=True)
class Breaker:
    """A connector's breaker after an event: its state, the failures in a row, when the next probe is due."""

    state: str
    failures: int
    next_probe_at: datetime | None


def sender_may(*, state: str, next_probe_at: datetime | None, now: datetime) -> str:
    """``SEND`` while reachable; ``PROBE`` once a probe is due (the caller must still claim it); else ``HOLD``.

    A probe whose caller died (``probing`` with its due time passed) may be claimed again.
    """
    if state == REACHABLE:
        return SEND
    if next_probe_at is None or now >= next_probe_at:
        return PROBE
    return HOLD


def after_failure(*, state: str, failures: int, threshold: int, probe_interval: timedelta, now: datetime) -> Breaker:
    """The breaker after one more transport failure: opens at ``threshold`` in a row, and a failed probe reopens it."""
    failures += 1
    if state == REACHABLE and failures < threshold:
        return Breaker(REACHABLE, failures, None)
    return Breaker(UNREACHABLE, failures, now + probe_interval)


def after_success() -> Breaker:
    """Any send that went through: the provider answers, the breaker closes."""
    return Breaker(REACHABLE, 0, None)


def delivery_deadline(
    *, first_attempt_at: datetime, retry_window: timedelta, messaging_window_closes_at: datetime | None
) -> datetime:
    """When the sender stops trying a message: the retry window after its first attempt, and never after the
    source's messaging window closes (Meta refuses a free-form reply then; retrying longer only fails later)."""
    deadline = first_attempt_at + retry_window
    if messaging_window_closes_at is not None:
        deadline = min(deadline, messaging_window_closes_at)
    return deadline
