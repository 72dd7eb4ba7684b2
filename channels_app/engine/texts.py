"""O3: client-facing texts in the open channel's language.

The admin can edit every client-facing text of an open channel, so the stored
value is what the client gets. A text still equal to the shipped English
default was never edited: it is translated at send time into the channel's
language. That keeps one set of defaults in the models (no per-language
migration data) and lets a channel switch language without rewriting texts.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext, gettext_noop

# The shipped defaults of the editable client-facing texts, marked for extraction;
# tests assert they equal the model field defaults, so the two cannot drift apart.
CLIENT_TEXT_DEFAULTS = frozenset(
    {
        gettext_noop("All our operators are busy right now. We will answer as soon as one is free."),
        gettext_noop("We are closed right now. We will answer when we open."),
        gettext_noop("Thank you for your message. An operator will answer shortly."),
        gettext_noop("Sorry for the wait, we are still looking for a free operator."),
        gettext_noop("Thank you for contacting us."),
        gettext_noop("This conversation was closed after a period of inactivity."),
        gettext_noop("Please rate our answer: 👍 or 👎"),
        gettext_noop("Thank you for your feedback!"),
        gettext_noop("Connecting you to an operator."),
    }
)

# Labels of the rating buttons offered by messengers that support buttons (R1).
RATING_LIKE_LABEL = gettext_noop("👍 Good")
RATING_DISLIKE_LABEL = gettext_noop("👎 Bad")
# A1 in the messengers: the button that accepts the consent notice (its words, typed, agree too) and how to agree.
CONSENT_AGREE_LABEL = gettext_noop("✅ I agree")
CONSENT_PROMPT = gettext_noop("To start the chat, press or reply “%(agree)s”.")


def client_text(text: str, language: str) -> str:
    """The text as the client should read it: an untouched default is translated, an edited one is kept."""
    if text.strip() not in CLIENT_TEXT_DEFAULTS:
        return text
    with translation.override(language or "en"):
        return gettext(text.strip())


def translated(message: str, language: str) -> str:
    """``message`` (an English msgid) in ``language``, independent of the active request language."""
    with translation.override(language or "en"):
        return gettext(message)
