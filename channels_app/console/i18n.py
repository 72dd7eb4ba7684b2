"""O3 in the console: it speaks the operator's own language, chosen in its top bar, whatever the browser says."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import JavaScriptCatalog

from channels_app.console.access import uses_console
from channels_app.engine.errors import ServiceError
from channels_app.engine.operators import operator_language_set
from channels_app.models import OperatorProfile


def operator_language(user) -> str | None:
    """The console language chosen in the operator's profile, or ``None`` for a user without one."""
    if not getattr(user, "is_authenticated", False):
        return None
    return OperatorProfile.objects.filter(user_id=user.pk).values_list("language", flat=True).first()


# Whatever response the view returns (a page, or the JavaScript catalog's), the wrapper returns.
_Response = TypeVar("_Response", bound=HttpResponseBase)


def in_operator_language(view: Callable[..., _Response]) -> Callable[..., _Response]:
    """Render a console view in the operator's own language rather than the browser's (LocaleMiddleware)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> _Response:
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


class InOperatorLanguage:
    """For the console's REST views: their answers (labels, error messages) speak the operator's own language,
    like the console page and its scripts, not the browser's."""

    @classmethod
    def as_view(cls, **initkwargs):
        return in_operator_language(super().as_view(**initkwargs))  # type: ignore[misc]


# The console's scripts, translated into the operator's language (Django's JavaScriptCatalog, domain djangojs).
console_javascript_catalog = in_operator_language(JavaScriptCatalog.as_view(packages=["channels_app"]))


@require_POST
@login_required
def console_language_view(request: HttpRequest) -> HttpResponse:
    """The console's language switcher: save the choice on the profile and show the console again."""
    if not uses_console(request.user):
        return HttpResponse(
            "Only operators and supervisors use the console.", status=403, content_type="text/plain; charset=utf-8"
        )
    try:
        operator_language_set(operator=request.user, language=request.POST.get("language", ""))
    except ServiceError as error:
        return HttpResponse(str(error), status=error.status_code, content_type="text/plain; charset=utf-8")
    return redirect("console")
