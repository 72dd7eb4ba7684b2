"""O3: the widget's own texts, in the open channel's language, from the gettext catalogs."""

from __future__ import annotations

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from channels_app.engine.client_view import OPERATOR_LABEL

# Marked with the "live chat" context: the same English word may read differently to a
# website visitor than in the console ("Operator" is "Konsultant" to a Polish client).
WIDGET_TEXTS: dict[str, Promise] = {
    "launcher": pgettext_lazy("live chat", "Chat with us"),
    "minimize": pgettext_lazy("live chat", "Minimise chat"),
    "placeholder": pgettext_lazy("live chat", "Type your message…"),
    "send": pgettext_lazy("live chat", "Send"),
    "consent_title": pgettext_lazy("live chat", "Before we start"),
    "consent_accept": pgettext_lazy("live chat", "I agree"),
    "consent_needed": pgettext_lazy("live chat", "Please accept the notice before writing."),
    "closed_now": pgettext_lazy("live chat", "We are closed right now"),
    "open_now": pgettext_lazy("live chat", "We usually reply within minutes"),
    "connecting": pgettext_lazy("live chat", "Connecting…"),
    "reconnecting": pgettext_lazy("live chat", "Connection lost. Reconnecting…"),
    "typing": pgettext_lazy("live chat", "is typing…"),
    "ended": pgettext_lazy("live chat", "The conversation has ended."),
    "rate_prompt": pgettext_lazy("live chat", "How did we do?"),
    "like": pgettext_lazy("live chat", "Good"),
    "dislike": pgettext_lazy("live chat", "Bad"),
    "rated": pgettext_lazy("live chat", "Thank you for your feedback!"),
    "write_again": pgettext_lazy("live chat", "Write again to start a new conversation."),
    "transcript_button": pgettext_lazy("live chat", "E-mail me the transcript"),
    "transcript_email": pgettext_lazy("live chat", "Your e-mail"),
    "transcript_send": pgettext_lazy("live chat", "Send the transcript"),
    "transcript_sent": pgettext_lazy("live chat", "The transcript is on its way to {email}."),
    "too_fast": pgettext_lazy("live chat", "You are sending messages too fast. Please wait a moment."),
    "operator": OPERATOR_LABEL,
    "sending": pgettext_lazy("live chat", "Sending…"),
    "no_answer": pgettext_lazy("live chat", "The server did not answer in time. Please try again."),
}


def widget_texts(language: str) -> dict[str, str]:
    """O3: the widget's texts in ``language`` (the open channel's), from the gettext catalogs."""
    with translation.override(language):
        return {key: str(text) for key, text in WIDGET_TEXTS.items()}
