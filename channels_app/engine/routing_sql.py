"""Routing's round trips as plain SQL: the snapshot a decision starts from, and the rows it writes.

Routing runs once per inbound conversation and once per retry, so its reads and writes are a handful of
statements built once at import, with every value bound as a parameter. Through the ORM one decision was
fifteen statements, most of its CPU spent compiling them (issue 17). The decisions themselves stay in
:mod:`channels_app.policy.distribution` and the order of the locks in :mod:`~channels_app.engine.locks`.
"""

# The statements are assembled from this module's fragments and the models' table and column names, never
# from values (every value is a bound parameter).
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model

from channels_app.engine.availability import HELD_ROWS_SQL
from channels_app.models import ROUTING_PRESENCE_FIELDS, Client, Conversation, OpenChannel
from channels_app.models.rows import Columns

# The columns routing reads whole rows of, turned into instances as the ORM would (models.rows).
CHANNEL = Columns(OpenChannel)
CONVERSATION = Columns(Conversation)
CLIENT = Columns(Client)
_CHANNEL_COLUMNS = CHANNEL.sql("ch")
_USERS = get_user_model()._meta.db_table

# The candidates of the conversations of the ``conv`` CTE (id, queued_at, open_channel_id, responsible_id; all of
# one channel): the channel's queue members, then each C4 responsible person outside the queue (position NULL),
# as JSON arrays [user id, queue position, is_active, username, first_name, last_name, profile display name,
# profile id (NULL: no profile), clocked_in, on_break, console_heartbeat_at, last_activity_at, availability];
# and the offers made to these conversations since they were queued, oldest first, as JSON arrays
# [conversation id, operator id, status, queue position].
_CANDIDATES_CTE = """
    members AS (
        SELECT qm.operator_id AS user_id, qm.position
          FROM channels_app_queuemember qm
         WHERE qm.open_channel_id = (SELECT open_channel_id FROM conv LIMIT 1)
    ),
    candidates AS (
        SELECT user_id, position FROM members
        UNION
        SELECT responsible_id, NULL FROM conv
         WHERE responsible_id IS NOT NULL AND responsible_id NOT IN (SELECT user_id FROM members)
    )
"""
_CANDIDATES_JSON = f"""
    (SELECT json_agg(json_build_array(
                c.user_id, c.position, u.is_active, u.username, u.first_name, u.last_name, p.display_name, p.id,
                {", ".join(f"p.{name}" for name in ROUTING_PRESENCE_FIELDS)}))
       FROM candidates c
       JOIN "{_USERS}" u ON u.id = c.user_id
       LEFT JOIN channels_app_operatorprofile p ON p.user_id = c.user_id) AS candidates,
    (SELECT json_agg(json_build_array(o.conversation_id, o.operator_id, o.status, o.queue_position)
                     ORDER BY o.created_at, o.id)
       FROM channels_app_offer o
       JOIN conv ON o.conversation_id = conv.id
      WHERE conv.queued_at IS NULL OR o.created_at >= conv.queued_at) AS offers
"""

# conversation_route's snapshot, one row (none when the conversation does not exist): the conversation's status,
# route_not_before, queued_at and C4 responsible person (when its channel routes to them), every column of its
# open channel (in CHANNEL's order), the candidates and offers (above), and the candidates' loads, leave and
# last assignment (availability.HELD_ROWS_SQL) as JSON arrays.
ROUTE_SNAPSHOT_SQL = f"""
    WITH conv AS (
        SELECT c.id, c.status, c.route_not_before, c.queued_at, c.open_channel_id,
               CASE WHEN ch.route_to_responsible THEN ct.responsible_id END AS responsible_id
          FROM channels_app_conversation c
          JOIN channels_app_openchannel ch ON ch.id = c.open_channel_id
          LEFT JOIN channels_app_client cl ON cl.id = c.client_id
          LEFT JOIN crm_contact ct ON ct.id = cl.contact_id
         WHERE c.id = %(conversation)s
    ),
    {_CANDIDATES_CTE}
    SELECT conv.status, conv.route_not_before, conv.queued_at, conv.responsible_id, {_CHANNEL_COLUMNS},
           {_CANDIDATES_JSON},
           (SELECT json_agg(json_build_array(h.operator_id, h.status, h.replied, h.last_by_operator, h.n, h.at))
              FROM ({HELD_ROWS_SQL.format(ids="SELECT user_id FROM candidates")}) AS h) AS held
      FROM conv JOIN channels_app_openchannel ch ON ch.id = conv.open_channel_id
"""

# channel_redistribute's contexts, one row: the candidates and offers (above) of a batch of one channel's
# conversations, given as parallel arrays (id, queued_at, responsible id or NULL).
BATCH_CONTEXT_SQL = f"""
    WITH conv AS (
        SELECT id, queued_at, %(channel)s::bigint AS open_channel_id, responsible_id
          FROM unnest(%(ids)s::bigint[], %(queued_at)s::timestamptz[], %(responsible)s::int[])
            AS given(id, queued_at, responsible_id)
    ),
    {_CANDIDATES_CTE}
    SELECT {_CANDIDATES_JSON}
"""


def parse_time(value: str | None) -> datetime | None:
    """A timestamp read from a JSON column (PostgreSQL writes ISO 8601 with the offset)."""
    return datetime.fromisoformat(value) if value is not None else None


# The outcome of the decisions of a batch (or of one conversation) in one statement. The conversations are set to
# ``offered`` (their first offer time kept) only if still routable in the channel: the UPDATE takes the row lock
# (after the operators', as locks.py orders them) and re-checks that under it, so conversation_route needs no
# separate lock; a batch's rows are already locked and pass. For each conversation it did update: the offers
# (parallel arrays: conversation, operator, queue position, expiry), its StatusChange and its RoutingDecision
# (``decisions``: one JSON document, an array of [conversation id, reason, mode, outcome, chosen, candidates]:
# one string to send rather than arrays of JSON texts to quote), and the Evenly / strict order time of the chosen
# operators' places in the channel's queue. Returns one row per conversation offered: every column of the
# conversation as updated, then of its client (CONVERSATION's, then CLIENT's order), the client's
# connector's id and kind (the client's name needs it), and in every row the new offers as JSON arrays
# [id, conversation id, operator id] and the decisions as [id, conversation id]. No row: nothing was written.
WRITE_OFFERS_SQL = f"""
    WITH offered AS (
        UPDATE channels_app_conversation
           SET status = 'offered', first_offered_at = COALESCE(first_offered_at, %(now)s)
         WHERE id = ANY(%(conversations)s::bigint[]) AND open_channel_id = %(channel)s
           AND status = 'queued' AND (route_not_before IS NULL OR route_not_before <= %(now)s)
        RETURNING {CONVERSATION.sql("channels_app_conversation")}
    ),
    new_offers AS (
        INSERT INTO channels_app_offer
               (conversation_id, operator_id, status, created_at, expires_at, resolved_at, queue_position)
        SELECT o.conversation_id, o.operator_id, 'pending', %(now)s, o.expires_at, NULL, o.queue_position
          FROM unnest(%(offer_conversations)s::bigint[], %(offer_operators)s::int[], %(offer_positions)s::int[],
                      %(offer_expiry)s::timestamptz[]) WITH ORDINALITY
            AS o(conversation_id, operator_id, queue_position, expires_at, n)
         WHERE o.conversation_id IN (SELECT id FROM offered)
         ORDER BY o.n
        RETURNING id, conversation_id, operator_id
    ),
    changes AS (
        INSERT INTO channels_app_statuschange
               (conversation_id, at, from_status, to_status, operator_id, actor_id, reason)
        SELECT (d.value->>0)::bigint, %(now)s, 'queued', 'offered', NULL, NULL, d.value->>1
          FROM jsonb_array_elements(%(decisions)s::jsonb) WITH ORDINALITY AS d(value, n)
         WHERE (d.value->>0)::bigint IN (SELECT id FROM offered)
         ORDER BY d.n
    ),
    decisions AS (
        INSERT INTO channels_app_routingdecision
               (conversation_id, created_at, trigger, mode, outcome, chosen, candidates)
        SELECT (d.value->>0)::bigint, %(now)s, %(trigger)s, d.value->>2, d.value->>3, d.value->4, d.value->5
          FROM jsonb_array_elements(%(decisions)s::jsonb) WITH ORDINALITY AS d(value, n)
         WHERE (d.value->>0)::bigint IN (SELECT id FROM offered)
         ORDER BY d.n
        RETURNING id, conversation_id
    ),
    stamped AS (
        UPDATE channels_app_queuemember SET last_assigned_at = %(now)s
         WHERE open_channel_id = %(channel)s AND operator_id = ANY(%(stamped)s::int[])
           AND EXISTS (SELECT 1 FROM offered)
    )
    SELECT {CONVERSATION.sql("c")},
           {CLIENT.sql("cl")},
           cn.id, cn.kind,
           (SELECT json_agg(json_build_array(id, conversation_id, operator_id)) FROM new_offers),
           (SELECT json_agg(json_build_array(id, conversation_id)) FROM decisions)
      FROM offered c
      JOIN channels_app_client cl ON cl.id = c.client_id
      JOIN channels_app_connector cn ON cn.id = cl.connector_id
"""
