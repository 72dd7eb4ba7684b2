"""Pages: the operator console, its sign-in, and the live-chat frame and demo page.

The pages only render a shell and a JSON config; the data comes from the REST
API (``channels_app/api.py``) and the websockets (``channels_app/consumers.py``),
so a first load and a re-sync after a dropped connection take the same path.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from channels_app import schedule
from channels_app.i18n import in_operator_language
from channels_app.models import OperatorProfile, QueueMember
from channels_app.schedule_loader import calendar_for
from channels_app.widget import (
    MAX_MESSAGE_LENGTH,
    channel_identity,
    livechat_connector_for_key,
    livechat_snippet,
    visitor_token_issue,
    widget_texts,
)

CONSOLE_LOGIN_URL = reverse_lazy("console-login")


def is_operator(user) -> bool:
    """Who may open the console: a signed-in user with an operator profile or a place in a queue."""
    if not user.is_authenticated or not user.is_active:
        return False
    return (
        OperatorProfile.objects.filter(user_id=user.pk).exists()
        or QueueMember.objects.filter(operator_id=user.pk).exists()
    )


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("console")


console_logout = auth_views.LogoutView.as_view(next_page=CONSOLE_LOGIN_URL)


def _initials(name: str) -> str:
    parts = name.split()
    return "".join(part[0] for part in parts[:2]).upper() or "?"


@never_cache
@login_required(login_url=CONSOLE_LOGIN_URL)
@in_operator_language
def console(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not is_operator(user):
        return render(request, "console/not_operator.html", status=403)
    profile = OperatorProfile.objects.filter(user_id=user.pk).first()
    name = (profile.public_name if profile else "") or user.get_full_name() or user.get_username()
    config = {
        "operator": {"id": user.pk, "name": name},
        "csrf_token": get_token(request),
        "urls": {
            "socket": "/ws/console/",
            "state": reverse("api-console-state"),
            "conversations": reverse("api-console-conversations"),
            "status": reverse("api-console-status"),
            # "{id}" is filled in by the console for each conversation.
            "conversation": reverse("api-conversation", args=[0]).replace("/0/", "/{id}/"),
            "messages": reverse("api-conversation-messages", args=[0]).replace("/0/", "/{id}/"),
            "transfer_targets": reverse("api-conversation-transfer-targets", args=[0]).replace("/0/", "/{id}/"),
            "lead": reverse("api-conversation-lead", args=[0]).replace("/0/", "/{id}/"),
        },
        "max_message_length": MAX_MESSAGE_LENGTH,
    }
    context = {"console_config": config, "operator_name": name, "initials": _initials(name)}
    return render(request, "console/console.html", context)


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
    config = {
        "key": connector.public_key,
        "fresh_token": visitor_token_issue(connector=connector),
        "language": open_channel.language,
        "texts": texts,
        "channel": channel_identity(open_channel),
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
        "max_message_length": MAX_MESSAGE_LENGTH,
    }
    context = {
        "widget_config": config,
        "language": open_channel.language,
        "channel_name": config["channel"]["name"],
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
        "snippet_html": mark_safe(snippet),
    }
    return render(request, "livechat/demo.html", context)
