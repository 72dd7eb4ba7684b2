"""Pages of the website live chat (S1): the chat window inside the widget's iframe, and a demo website.

The frame renders a shell and a JSON config; the data comes from the REST API
(:mod:`channels_app.livechat.api`) and the websocket
(:mod:`channels_app.livechat.consumer`).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from channels_app.engine.calendars import calendar_for
from channels_app.engine.client_view import channel_identity
from channels_app.livechat.snippet import livechat_snippet
from channels_app.livechat.texts import widget_texts
from channels_app.livechat.visitors import livechat_connector_for_key, visitor_token_issue
from channels_app.models import TYPED_TEXT_MAX_LENGTH
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
        },
        "max_message_length": TYPED_TEXT_MAX_LENGTH,
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
