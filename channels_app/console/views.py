"""Pages: the operator console and its sign-in.

The page only renders a shell and a JSON config; the data comes from the REST
API (:mod:`channels_app.console.api`) and the websocket
(:mod:`channels_app.console.consumer`), so a first load and a re-sync after a
dropped connection take the same path.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache

from channels_app.console.access import uses_console
from channels_app.console.i18n import in_operator_language
from channels_app.console.signin import ConsoleSignInForm
from channels_app.models import TYPED_TEXT_MAX_LENGTH, operator_display_name

CONSOLE_LOGIN_URL = reverse_lazy("console-login")


class ConsoleLoginView(auth_views.LoginView):
    # Throttled by axes, with the TOTP code for users who have a device (channels_app.console.signin).
    authentication_form = ConsoleSignInForm
    template_name = "console/login.html"
    redirect_authenticated_user = True
    next_page = "console"  # a URL name: get_default_redirect_url() reverses it with resolve_url()


console_logout = auth_views.LogoutView.as_view(next_page=CONSOLE_LOGIN_URL)


def _initials(name: str) -> str:
    parts = name.split()
    return "".join(part[0] for part in parts[:2]).upper() or "?"


@never_cache
@login_required(login_url=CONSOLE_LOGIN_URL)
@in_operator_language
def console(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not uses_console(user):
        return render(request, "console/not_operator.html", status=403)
    name = operator_display_name(user)
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
            "consent_withdraw": reverse("api-conversation-consent-withdraw", args=[0]).replace("/0/", "/{id}/"),
            "files": reverse("api-conversation-files", args=[0]).replace("/0/", "/{id}/"),
            "history": reverse("api-console-history"),
            "history_filters": reverse("api-console-history-filters"),
            "timeline": reverse("api-conversation-timeline", args=[0]).replace("/0/", "/{id}/"),
            "notes": reverse("api-conversation-notes", args=[0]).replace("/0/", "/{id}/"),
            "mention_candidates": reverse("api-conversation-mention-candidates", args=[0]).replace("/0/", "/{id}/"),
            "notifications": reverse("api-notifications"),
            "notifications_read_all": reverse("api-notifications-read-all"),
            "notification_read": reverse("api-notification-read", args=[0]).replace("/0/", "/{id}/"),
        },
        "max_message_length": TYPED_TEXT_MAX_LENGTH,
    }
    context = {"console_config": config, "operator_name": name, "initials": _initials(name)}
    return render(request, "console/console.html", context)
