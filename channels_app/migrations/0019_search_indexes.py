"""History and search (issue 15): diacritics-insensitive full-text search in PostgreSQL.

- ``unaccent`` and ``pg_trgm`` (both ship with PostgreSQL's contrib, in the embedded server too);
- ``channels_unaccent(text)``: ``unaccent`` with its dictionary named, schema-qualified, so it may be marked
  IMMUTABLE and used in an index (``unaccent(text)`` alone is only STABLE: it reads the search path);
- ``channels_client_search_text(name, username, email, phone)``: what a client is found by, folded
  (no diacritics, lower case) and the phone as digits only, so "600 100 200" finds "+48 600100200";
- ``channels_app_message.search_words``: the words of a message, ``to_tsvector('simple', channels_unaccent(text))``
  (no stemming, every language alike), a stored generated column with a GIN index. Stored, because computing
  it costs ~10 µs a message and a search for a common word checks the newest messages one by one; unknown to the
  Django model, so loading messages never fetches it (decision 0014);
- a trigram GIN index over the clients' text;
- ``conversation_last_activity``: the History's order (last activity, newest first), walked a page at a time.

The selector in ``channels_app/engine/search.py`` reads the column and writes the client expression word for
word, so the planner uses the indexes (``tests/channels_app/engine/test_search.py`` checks the plans).
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE OR REPLACE FUNCTION public.channels_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

CREATE OR REPLACE FUNCTION public.channels_client_search_text(text, text, text, text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower(public.channels_unaccent(coalesce($1, '') || ' ' || coalesce($2, '') || ' '
                                                || coalesce($3, '')))
                 || ' ' || regexp_replace(coalesce($4, ''), '[^0-9]', '', 'g') $$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS public.channels_client_search_text(text, text, text, text);
DROP FUNCTION IF EXISTS public.channels_unaccent(text);
"""

INDEXES = """
ALTER TABLE channels_app_message ADD COLUMN IF NOT EXISTS search_words tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, public.channels_unaccent(text))) STORED;
CREATE INDEX IF NOT EXISTS message_text_search ON channels_app_message USING gin (search_words);
CREATE INDEX IF NOT EXISTS conversation_last_activity ON channels_app_conversation
    ((COALESCE(last_message_at, created_at)) DESC, id DESC);
CREATE INDEX IF NOT EXISTS client_search_trigram ON channels_app_client
    USING gin (public.channels_client_search_text(name, username, email, phone) public.gin_trgm_ops);
"""

DROP_INDEXES = """
DROP INDEX IF EXISTS message_text_search;
ALTER TABLE channels_app_message DROP COLUMN IF EXISTS search_words;
DROP INDEX IF EXISTS client_search_trigram;
DROP INDEX IF EXISTS conversation_last_activity;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0018_whatsapp_templates"),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS),
        migrations.RunSQL(INDEXES, DROP_INDEXES),
    ]
