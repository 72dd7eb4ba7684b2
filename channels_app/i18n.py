"""O3: client-facing texts in the open channel's language.

The admin can edit every client-facing text of an open channel, so the stored
value is what the client gets. A text still equal to the shipped English
default was never edited: it is translated at send time into the channel's
language. That keeps one set of defaults in the models (no per-language
migration data) and lets a channel switch language without rewriting texts.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_POST
from django.views.i18n import JavaScriptCatalog

from channels_app.models import OperatorProfile
from channels_app.services.errors import NotAllowed, ServiceError

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


def operator_language(user) -> str | None:
    """The console language chosen in the operator's profile, or ``None`` for a user without one."""
    if not getattr(user, "is_authenticated", False):
        return None
    return OperatorProfile.objects.filter(user_id=user.pk).values_list("language", flat=True).first()


def in_operator_language(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Render a console view in the operator's own language rather than the browser's (LocaleMiddleware)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        language = operator_language(request.user)
        if not language:
            return view(request, *args, **kwargs)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            # Template responses render lazily: render inside the override.
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        response.headers["Content-Language"] = language
        return response

    return wrapper


# The console's scripts, translated into the operator's language (Django's JavaScriptCatalog, domain djangojs).
console_javascript_catalog = in_operator_language(JavaScriptCatalog.as_view(packages=["channels_app"]))


def operator_language_set(*, operator, language: str) -> str:
    """Save the operator's console language; an unknown code is refused and changes nothing."""
    if language not in dict(settings.LANGUAGES):
        raise ServiceError(f"Unknown language: {language!r}.")
    with transaction.atomic():
        updated = OperatorProfile.objects.filter(user_id=operator.pk).update(language=language)
    if not updated:
        raise NotAllowed("Only operators have a console language.")
    return language


@require_POST
@login_required
def console_language_view(request: HttpRequest) -> HttpResponse:
    """The console's language switcher: save the choice on the profile and show the console again."""
    try:
        operator_language_set(operator=request.user, language=request.POST.get("language", ""))
    except ServiceError as error:
        return HttpResponse(str(error), status=error.status_code, content_type="text/plain; charset=utf-8")
    return redirect("console")
