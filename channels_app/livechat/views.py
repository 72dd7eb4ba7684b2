"""Pages of the website live chat (S1): the chat window inside the widget's iframe, a demo website, and the
page that confirms a visitor's e-mail address.

The frame renders a shell and a JSON config; the data comes from the REST API
(:mod:`channels_app.livechat.api`) and the websocket
(:mod:`channels_app.livechat.consumer`).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_http_methods

from channels_app.engine.calendars import calendar_for
from channels_app.engine.client_view import channel_identity
from channels_app.engine.errors import InvalidState, ServiceError
from channels_app.livechat.email_confirmation import (
    ConfirmationState,
    ExpiredConfirmationLink,
    InvalidConfirmationLink,
    confirmation_client,
    confirmation_state,
    confirmation_token_read,
)
from channels_app.livechat.payloads import visitor_file_limits
from channels_app.livechat.services import livechat_email_confirm
from channels_app.livechat.snippet import livechat_snippet
from channels_app.livechat.texts import EMAIL_CONFIRM_TEXTS, file_limits_text, widget_texts
from channels_app.livechat.visitor_forms import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH, PHONE_MAX_LENGTH
from channels_app.livechat.visitors import livechat_connector_for_key, visitor_token_issue
from channels_app.models import FORM_DETAILS, TYPED_TEXT_MAX_LENGTH, Client, ConsentFormVersion
from channels_app.policy import schedule


@never_cache
@xframe_options_exempt  # the frame is meant to be embedded by any website (S1)
@require_GET
def livechat_frame(request: HttpRequest, public_key: str) -> HttpResponse:
    """The chat window inside the widget's iframe.

    A fresh visitor token comes with every load; the page keeps the one it
    already stored for this key, so a returning visitor continues their
    conversation and the fresh token is used only by a first-time visitor.
    """
    connector = livechat_connector_for_key(public_key)
    if connector is None:
        raise Http404("No live chat with this key.")
    open_channel = connector.open_channel
    now = timezone.now()
    texts = widget_texts(open_channel.language)
    out_of_hours = not schedule.is_open(calendar_for(open_channel), now)
    consent_form = open_channel.consent_form if open_channel.consent_required else None
    channel = channel_identity(open_channel)
    file_limits = open_channel.file_limits
    config = {
        "key": connector.public_key,
        "fresh_token": visitor_token_issue(connector=connector),
        "language": open_channel.language,
        "texts": texts,
        "channel": channel,
        "out_of_hours": {
            "closed": out_of_hours,
            "text": open_channel.out_of_hours_text if out_of_hours and open_channel.out_of_hours_reply_enabled else "",
        },
        "consent": {"title": consent_form.name, "text": consent_form.text} if consent_form else None,
        "urls": {
            "socket": "/ws/livechat/{token}/",
            "state": "/api/livechat/{token}/",
            "transcript": "/api/livechat/{token}/transcript/",
            "files": "/api/livechat/{token}/files/",
            "details": "/api/livechat/{token}/details/",
            "offline": "/api/livechat/{token}/offline/",
            "consent_withdraw": "/api/livechat/{token}/consent/withdraw/",
        },
        # The pre-chat form: how each detail is asked ("off", "optional", "required"); the offline form's intro.
        "forms": {
            "prechat": {detail: open_channel.prechat_mode(detail) for detail in FORM_DETAILS},
            "offline_enabled": open_channel.offline_form_enabled,
            "offline_intro": open_channel.offline_form_intro,
            "max_lengths": {"name": NAME_MAX_LENGTH, "email": EMAIL_MAX_LENGTH, "phone": PHONE_MAX_LENGTH},
        },
        "max_message_length": TYPED_TEXT_MAX_LENGTH,
        # The channel thanks for a rating with a message of its own; when its text is empty the widget thanks.
        "rating_thanks": bool(open_channel.rating_thanks_text.strip()),
        # None: this chat takes no files (the widget shows no paper clip).
        "files": visitor_file_limits(file_limits, file_limits_text(file_limits, open_channel.language))
        if file_limits.groups
        else None,
    }
    context = {
        "widget_config": config,
        "language": open_channel.language,
        "channel_name": channel["name"],
        "texts": texts,
    }
    return render(request, "livechat/frame.html", context)


@require_GET
def livechat_demo(request: HttpRequest, public_key: str) -> HttpResponse:
    """A stand-in customer website embedding the snippet exactly as the admin shows it."""
    connector = livechat_connector_for_key(public_key)
    if connector is None:
        raise Http404("No live chat with this key.")
    snippet = livechat_snippet(connector, base_url=request.build_absolute_uri("/"))
    context = {
        "channel_name": connector.open_channel.name,
        "snippet": snippet,
        # The snippet is built by livechat_snippet, which escapes every value it interpolates.
        "snippet_html": mark_safe(snippet),  # noqa: S308
    }
    return render(request, "livechat/demo.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def livechat_email_confirm_page(request: HttpRequest, token: str) -> HttpResponse:
    """The page the link in the transcript mail opens: GET shows the address and a button, POST confirms it.

    A GET never confirms: mail scanners and link previews fetch every URL in a
    mail and must not prove an address on its owner's behalf. Refusals (an
    altered or cut link 400, an expired one 410, an address no longer waiting
    409) are pages with their status, and change nothing.
    """
    try:
        address = confirmation_token_read(token)
    except InvalidConfirmationLink as refusal:
        return _confirm_refusal(request, None, refusal)
    except ExpiredConfirmationLink as refusal:
        return _confirm_refusal(request, confirmation_client(refusal.address), refusal)
    client = confirmation_client(address)
    if request.method == "POST":
        try:
            livechat_email_confirm(client_id=address.client_id, email=address.email)
        except ServiceError as refusal:
            return _confirm_refusal(request, client, refusal)
        return _confirm_page(request, client, address.email, ConfirmationState.CONFIRMED)
    state = confirmation_state(client, address.email)
    if state == ConfirmationState.STALE:
        return _confirm_refusal(request, client, InvalidState(EMAIL_CONFIRM_TEXTS["not_pending"]))
    return _confirm_page(request, client, address.email, state)


def _confirm_page(request: HttpRequest, client: Client | None, email: str, state: ConfirmationState) -> HttpResponse:
    pending = state == ConfirmationState.PENDING
    heading = EMAIL_CONFIRM_TEXTS["page_title" if pending else "page_confirmed_title"]
    text = EMAIL_CONFIRM_TEXTS["page_pending" if pending else "page_confirmed"]
    return _render_confirm(request, client, heading=heading, text=text, email=email, ask_to_confirm=pending)


def _confirm_refusal(request: HttpRequest, client: Client | None, refusal: ServiceError) -> HttpResponse:
    return _render_confirm(
        request, client, heading=EMAIL_CONFIRM_TEXTS["page_error_title"], text=refusal, status=refusal.status_code
    )


def _render_confirm(
    request: HttpRequest,
    client: Client | None,
    *,
    heading: Promise,
    text: Promise | ServiceError,
    email: str = "",
    ask_to_confirm: bool = False,
    status: int = 200,
) -> HttpResponse:
    """Styled like the chat, in the open channel's language (O3); with no trustworthy client, the browser's."""
    open_channel = client.connector.open_channel if client is not None else None
    language = open_channel.language if open_channel is not None else translation.get_language()
    channel = channel_identity(open_channel) if open_channel is not None else None
    with translation.override(language):
        context = {
            "language": language,
            "channel": channel,
            "heading": str(heading),
            "text": str(text).format(email=email, channel=channel["name"] if channel else ""),
            "ask_to_confirm": ask_to_confirm,
            "button": str(EMAIL_CONFIRM_TEXTS["page_button"]),
        }
        response = render(request, "livechat/confirm_email.html", context, status=status)
    # The URL holds the token: never sent to another site (a channel photo hosted elsewhere), never indexed.
    # Not "no-referrer": the browser would then post the form with "Origin: null", which CSRF rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def consent_form_version(request: HttpRequest, version_id: int) -> HttpResponse:
    """A1: the exact text of one version of a consent form, which the notice sent to a messenger client links to.

    Public on purpose: it is the notice shown to anyone who writes to the channel, and a version never changes.
    """
    version = ConsentFormVersion.objects.select_related("form").filter(pk=version_id).first()
    if version is None:
        raise Http404("No such consent form.")
    with translation.override(version.form.language):
        return render(request, "livechat/consent_form.html", {"version": version, "form": version.form})
