"""O3: the widget's own texts, in the open channel's language, from the gettext catalogs."""

from __future__ import annotations

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from channels_app.engine.attachments import human_size
from channels_app.engine.client_view import OPERATOR_LABEL
from channels_app.policy import files

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
    "loading_older": pgettext_lazy("live chat", "Loading earlier messages…"),
    "older_available": pgettext_lazy("live chat", "Scroll up for earlier messages"),
    "edited": pgettext_lazy("live chat", "edited"),
    "deleted": pgettext_lazy("live chat", "This message was deleted."),
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
    # Withdrawing consent (issue 19).
    "consent_withdraw": pgettext_lazy("live chat", "Withdraw my consent"),
    "consent_withdraw_confirm": pgettext_lazy(
        "live chat", "Withdraw your consent to the personal-data notice? We will ask for it again in your next chat."
    ),
    "consent_withdraw_yes": pgettext_lazy("live chat", "Withdraw"),
    "consent_withdraw_no": pgettext_lazy("live chat", "Cancel"),
    "consent_withdrawn": pgettext_lazy(
        "live chat", "You withdrew your consent. This conversation continues; your next one will ask for it again."
    ),
    "email_confirm_sent": pgettext_lazy(
        "live chat", "The e-mail also has a link to confirm your address: open it so that we can contact you there."
    ),
    "too_many_transcripts": pgettext_lazy("live chat", "Too many e-mails were asked for. Please try again later."),
    "too_many_attempts": pgettext_lazy("live chat", "Too many attempts. Please wait a moment and try again."),
    "too_fast": pgettext_lazy("live chat", "You are sending messages too fast. Please wait a moment."),
    "operator": OPERATOR_LABEL,
    "sending": pgettext_lazy("live chat", "Sending…"),
    # The counter under a long message (issue 20): shown from 80 % of the limit, red beyond it.
    "counter": pgettext_lazy("live chat", "{count} / {limit}"),
    "counter_label": pgettext_lazy("live chat", "{count} of {limit} characters"),
    "too_long": pgettext_lazy(
        "live chat", "Your message is too long: at most {limit} characters. Shorten it or send it in parts."
    ),
    "no_answer": pgettext_lazy("live chat", "The server did not answer in time. Please try again."),
    # Files (issue 14).
    "attach": pgettext_lazy("live chat", "Attach a file"),
    "drop_here": pgettext_lazy("live chat", "Drop the file here to send it"),
    "uploading": pgettext_lazy("live chat", "Uploading… {percent}%"),
    "upload_failed": pgettext_lazy("live chat", "Not sent: {reason}"),
    "upload_lost": pgettext_lazy("live chat", "the connection was lost"),
    "retry": pgettext_lazy("live chat", "Try again"),
    "dismiss": pgettext_lazy("live chat", "Remove"),
    "file_too_large": pgettext_lazy("live chat", "“{name}” is too large. {limits}"),
    "file_type_refused": pgettext_lazy("live chat", "“{name}” cannot be sent here. {limits}"),
    "file_pending": pgettext_lazy("live chat", "downloading…"),
    "file_failed": pgettext_lazy("live chat", "could not download: {reason}"),
    "file_download": pgettext_lazy("live chat", "Download"),
    "file_open": pgettext_lazy("live chat", "Open {name} full size"),
    # The pre-chat and offline forms (issue 15).
    "prechat_title": pgettext_lazy("live chat", "Before we start, tell us who you are"),
    "prechat_submit": pgettext_lazy("live chat", "Start the chat"),
    "field_name": pgettext_lazy("live chat", "Your name"),
    "field_email": pgettext_lazy("live chat", "Your e-mail"),
    "field_phone": pgettext_lazy("live chat", "Your phone"),
    "field_message": pgettext_lazy("live chat", "Your message"),
    "field_optional": pgettext_lazy("live chat", "(optional)"),
    "offline_title": pgettext_lazy("live chat", "Leave us a message"),
    "offline_intro_closed": pgettext_lazy(
        "live chat", "We are closed right now. Leave a message and how to reach you, and we will answer when we open."
    ),
    "offline_intro_busy": pgettext_lazy(
        "live chat", "Nobody can answer right now. Leave a message and how to reach you, and we will get back to you."
    ),
    "offline_submit": pgettext_lazy("live chat", "Send the message"),
    "offline_sent": pgettext_lazy(
        "live chat", "Thank you! We have your message and will answer you as soon as we can."
    ),
    "error_required": pgettext_lazy("live chat", "Please fill this in."),
    "error_email": pgettext_lazy("live chat", "Enter an e-mail address such as name@example.com."),
    "error_phone": pgettext_lazy(
        "live chat", "Enter a phone number: 6 to 20 digits, with spaces, “+”, “-” or brackets if you like."
    ),
    "error_too_long": pgettext_lazy("live chat", "This is too long: at most {limit} characters."),
    "error_contact": pgettext_lazy("live chat", "Give an e-mail or a phone number so that we can answer you."),
    "error_form": pgettext_lazy("live chat", "Please correct the marked fields."),
    "details_needed": pgettext_lazy("live chat", "Please fill in the form before writing."),
    "offline_form_off": pgettext_lazy("live chat", "This chat does not take messages through a form."),
    "conversation_open": pgettext_lazy("live chat", "You already have a conversation open: write to us there."),
}

# How the widget names the groups of files an open channel accepts ("Files up to 10 MB: images, PDF and documents").
FILE_GROUP_WORDS: dict[str, Promise] = {
    files.IMAGES: pgettext_lazy("live chat", "images"),
    files.DOCUMENTS: pgettext_lazy("live chat", "PDF and documents"),
    files.AUDIO: pgettext_lazy("live chat", "audio"),
    files.VIDEO: pgettext_lazy("live chat", "video"),
    files.ARCHIVES: pgettext_lazy("live chat", "archives (ZIP, RAR, 7z)"),
}


def widget_texts(language: str) -> dict[str, str]:
    """O3: the widget's texts in ``language`` (the open channel's), from the gettext catalogs."""
    with translation.override(language):
        return {key: str(text) for key, text in WIDGET_TEXTS.items()}


def file_limits_text(limits: files.FileLimits, language: str) -> str:
    """The open channel's file limits in the visitor's words, in ``language``: "Files up to 10 MB: images, audio"."""
    with translation.override(language):
        groups = ", ".join(str(FILE_GROUP_WORDS[group]) for group in files.FILE_GROUPS if group in limits.groups)
        return str(pgettext_lazy("live chat", "Files up to {size}: {groups}")).format(
            size=human_size(limits.max_bytes), groups=groups
        )


# The address-confirmation mail's paragraph and the page its link opens, also in the open channel's language (O3).
EMAIL_CONFIRM_TEXTS: dict[str, Promise] = {
    "mail_confirm": pgettext_lazy(
        "live chat", "Would you like {channel} to be able to contact you at this address? Confirm it with this link:"
    ),
    "mail_valid_for": pgettext_lazy("live chat", "The link works for {days} days."),
    "mail_ignore": pgettext_lazy(
        "live chat", "If you did not ask for this e-mail, ignore it: your address will not be used."
    ),
    "page_title": pgettext_lazy("live chat", "Confirm your e-mail address"),
    "page_pending": pgettext_lazy(
        "live chat", "Confirm that {email} is your address, so that {channel} can contact you there."
    ),
    "page_button": pgettext_lazy("live chat", "Confirm my address"),
    "page_confirmed_title": pgettext_lazy("live chat", "Address confirmed"),
    "page_confirmed": pgettext_lazy("live chat", "Thank you. {channel} may now contact you at {email}."),
    "page_error_title": pgettext_lazy("live chat", "This link cannot be used"),
    "link_invalid": pgettext_lazy(
        "live chat", "This confirmation link is not valid. Open the link exactly as it is in the e-mail."
    ),
    "link_expired": pgettext_lazy(
        "live chat", "This confirmation link has expired. Ask for the transcript again in the chat to get a new one."
    ),
    "not_pending": pgettext_lazy(
        "live chat", "This address is no longer waiting to be confirmed: another address was entered in the chat since."
    ),
}


def email_confirm_texts(language: str) -> dict[str, str]:
    """O3: the confirmation mail's and page's texts in ``language`` (the open channel's)."""
    with translation.override(language):
        return {key: str(text) for key, text in EMAIL_CONFIRM_TEXTS.items()}
