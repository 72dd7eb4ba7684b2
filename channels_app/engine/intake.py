"""The stored webhook deliveries on the message path: the addressed connector, the pending updates, their claim
and their outcome, in raw SQL.

Every inbound message runs these statements once each. Built by the ORM they cost more CPU to compile
(the connector's join with its open channel alone is 60-odd quoted columns) than PostgreSQL spends running
them (decision 0033), so each is a constant here and its rows become instances through
:class:`channels_app.models.rows.Columns`, which converts values exactly as the ORM does. Every value is a
bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from channels_app.engine import prepared
from channels_app.models import Connector, InboundUpdate, OpenChannel
from channels_app.models.rows import Columns

_CONNECTOR = Columns(Connector, leave_out=("access_token",))
_CHANNEL = Columns(OpenChannel)
_UPDATE = Columns(InboundUpdate)

# The active connector of one of the kinds, with its open channel (processing right after the answer needs
# both); one row or none. Without the access token: verifying needs only the app secret or the webhook secret,
# and a token no key decrypts must not stop deliveries (whatever later uses the token raises there).
CONNECTOR_FOR_WEBHOOK = (
    f"SELECT {_CONNECTOR.sql('c')}, {_CHANNEL.sql('o')} FROM channels_app_connector c"  # noqa: S608 -- columns only
    " JOIN channels_app_openchannel o ON o.id = c.open_channel_id"
    " WHERE c.id = %s AND c.kind = ANY(%s) AND c.is_active"
)
# The pending updates of one connector among the ids given, whole rows (their payload is what is processed).
PENDING_UPDATES = (
    f"SELECT {_UPDATE.sql('u')} FROM channels_app_inboundupdate u"  # noqa: S608 -- columns only
    " WHERE u.connector_id = %s AND u.update_id = ANY(%s) AND u.state = 'pending'"
)
# Claims one update for this transaction: its id while it is pending and no other transaction holds it.
CLAIM_UPDATE = "SELECT id FROM channels_app_inboundupdate WHERE id = %s AND state = 'pending' FOR UPDATE SKIP LOCKED"
# Records an update's outcome.
FINISH_UPDATE = "UPDATE channels_app_inboundupdate SET state = %s, error = %s, processed_at = %s WHERE id = %s"


def connector_for_webhook(connector_id: int, kinds: Sequence[str]) -> Connector | None:
    """The active connector ``connector_id`` if it is of one of ``kinds``, its open channel loaded; else ``None``."""
    row = prepared.fetchone(CONNECTOR_FOR_WEBHOOK, [connector_id, list(kinds)])
    if row is None:
        return None
    connector = _CONNECTOR.instance(row)
    connector.open_channel = _CHANNEL.instance(row, len(_CONNECTOR))
    return connector


def pending_updates(connector_id: int, update_ids: Sequence[str]) -> list[InboundUpdate]:
    """The updates of ``connector_id`` among ``update_ids`` still pending (any order)."""
    return [_UPDATE.instance(row) for row in prepared.fetchall(PENDING_UPDATES, [connector_id, list(update_ids)])]


def update_claim(update_pk: int) -> bool:
    """Lock the update's row for the current transaction if it is still pending and nobody else holds it."""
    return prepared.fetchone(CLAIM_UPDATE, [update_pk]) is not None


def update_finish(update: InboundUpdate, *, state: str, error: str, now: datetime) -> None:
    """Record the update's outcome (on the row and on ``update``)."""
    update.state, update.error, update.processed_at = state, error, now
    prepared.execute(FINISH_UPDATE, [state, error, now, update.pk])
