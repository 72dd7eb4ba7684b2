"""Supervisor pages (K3, R3, O2): thin views over :mod:`kpi.selectors` and :mod:`kpi.services`.

Every page needs a login and the ``kpi.view_kpi`` permission (403 without it), and shows only the open
channels the viewer supervises (every channel to an administrator): a conversation of another channel
is answered 404. A bad filter answers 400 with the form's message, never a 500.
"""

from __future__ import annotations

import csv
import logging
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from channels_app.engine import access, audit, notes, notifications, search
from channels_app.engine.errors import ServiceError
from channels_app.models import ConnectorKind
from kpi.charts import daily_chart
from kpi.forms import KpiFilterForm, SupervisorRatingForm
from kpi.selectors import (
    UNASSIGNED,
    conversation_transcript,
    kpi_conversations,
    kpi_overview,
    operator_choices,
    period_time_zones,
)
from kpi.services import supervisor_rating_save
from kpi.wallboard import queue_operators, wallboard_channels

logger = logging.getLogger("kpi.views")
CONVERSATIONS_PER_PAGE = 50
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def supervisor_required(view):
    @wraps(view)
    @login_required
    @permission_required("kpi.view_kpi", raise_exception=True)
    def wrapper(request, *args, **kwargs):
        return view(request, *args, **kwargs)

    return wrapper


def _filter_form(request: HttpRequest) -> KpiFilterForm:
    return KpiFilterForm(
        request.GET,
        now=timezone.now(),
        open_channels=access.supervised_channels(request.user),
        all_channels=access.is_administrator(request.user),
    )


def _query(form: KpiFilterForm, **extra) -> str:
    """The filter as a query string, for links that keep the period and open channel."""
    period = form.period()
    params: dict[str, str | int] = {"start": period.first_day.isoformat(), "end": period.last_day.isoformat()}
    if period.open_channel_id:
        params["open_channel"] = period.open_channel_id
    params.update({key: value for key, value in extra.items() if value not in (None, "")})
    return urlencode(params)


@require_GET
@supervisor_required
def overview(request: HttpRequest) -> HttpResponse:
    """K3: per-operator table, totals and chart for a period, with an open-channel filter."""
    form = _filter_form(request)
    if not form.is_valid():
        return render(request, "kpi/overview.html", {"form": form}, status=400)
    data = kpi_overview(form.period(), now=form.now)
    rows = [(row, _query(form, operator=UNASSIGNED if row.is_unassigned else row.operator_id)) for row in data.rows]
    return render(
        request,
        "kpi/overview.html",
        {
            "form": form,
            "overview": data,
            "rows": rows,
            "chart": daily_chart(data.days),
            "query": _query(form),
            "time_zones": period_time_zones(data.period),
        },
    )


@require_GET
@supervisor_required
def export_csv(request: HttpRequest) -> HttpResponse:
    """K3 table as CSV (seconds as numbers), one row per operator and a totals row."""
    form = _filter_form(request)
    if not form.is_valid():
        errors = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        return HttpResponse(f"Invalid filter: {errors}\n", status=400, content_type="text/plain; charset=utf-8")
    data = kpi_overview(form.period(), now=form.now)
    period = data.period
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"kpi-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "operator_id",
            "operator",
            "conversations",
            "responses",
            "initial_response_avg_s",
            "response_avg_s",
            "response_max_s",
            "response_total_s",
            "misses",
            "client_likes",
            "client_dislikes",
            "supervisor_score_avg",
            "supervisor_ratings",
        ]
    )
    for row in [*data.rows, data.totals]:
        stats = row.stats
        writer.writerow(
            [
                row.operator_id if row.operator_id is not None else "",
                _spreadsheet_safe(row.name),
                stats.conversations,
                stats.responses,
                _seconds(stats.initial_average_seconds),
                _seconds(stats.average_seconds),
                _seconds(stats.maximum_seconds),
                _seconds(stats.total_seconds),
                stats.misses,
                row.likes,
                row.dislikes,
                f"{row.supervisor_average:.2f}" if row.supervisor_average is not None else "",
                row.supervisor_ratings,
            ]
        )
    return response


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


@require_GET
@supervisor_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    """O2: the conversations behind the figures, filtered like the table (and by operator)."""
    form = _filter_form(request)
    if not form.is_valid():
        return render(request, "kpi/conversations.html", {"form": form, "show_search": True}, status=400)
    period = form.period()
    conversations = kpi_conversations(period)
    words = form.words()
    if words:  # issue 15: the console's search, in the same scope
        conversations = conversations.filter(pk__in=search.matching_conversations(request.user, words).values("pk"))
    page = Paginator(conversations, CONVERSATIONS_PER_PAGE).get_page(request.GET.get("page"))
    operator_name = ""
    if period.operator == UNASSIGNED:
        operator_name = "Unassigned"
    elif period.operator is not None:
        operator_name = dict(operator_choices(period)).get(period.operator, f"user {period.operator}")
    return render(
        request,
        "kpi/conversations.html",
        {
            "form": form,
            "period": period,
            "page": page,
            "operator_name": operator_name,
            "time_zones": period_time_zones(period),
            "query": _query(form, operator=period.operator, q=form.cleaned_data.get("q")),
            "overview_query": _query(form),
            "show_search": True,
        },
    )


@require_http_methods(["GET", "POST"])
@supervisor_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """O2 transcript with its response records; R3 rating form (POST saves, then redirects)."""
    transcript = conversation_transcript(conversation_id)
    if transcript is None or not access.supervises(request.user, transcript.conversation.open_channel_id):
        raise Http404("This conversation does not exist.")
    audit.transcript_opened(user=request.user, conversation=transcript.conversation, now=timezone.now())
    own_rating = next((r for r in transcript.supervisor_ratings if r.supervisor_id == request.user.pk), None)
    status = 200
    if request.method == "POST":
        form = SupervisorRatingForm(request.POST)
        if form.is_valid():
            try:
                supervisor_rating_save(
                    conversation_id=conversation_id,
                    supervisor=request.user,
                    score=form.cleaned_data["score"],
                    comment=form.cleaned_data["comment"],
                    now=timezone.now(),
                )
            except ServiceError as error:
                logger.info("Rating of conversation %s refused: %s", conversation_id, error)
                form.add_error(None, str(error))
                status = error.status_code
            else:
                messages.success(request, _("Your rating of conversation #%(id)s is saved.") % {"id": conversation_id})
                return redirect(reverse("kpi:conversation", args=[conversation_id]) + _back_suffix(request))
        else:
            status = 400
    else:
        initial = {"score": own_rating.score, "comment": own_rating.comment} if own_rating else None
        form = SupervisorRatingForm(initial=initial)
    return render(
        request,
        "kpi/conversation.html",
        {
            "t": transcript,
            "form": form,
            "own_rating": own_rating,
            "back": request.GET.get("back", ""),
            "c": transcript.conversation,
            "notes": notes.conversation_notes(conversation_id),
            "actions_config": _actions_config(request, conversation_id),
            "reassign_operators": _reassign_operators(transcript.conversation),
        },
        status=status,
    )


def _reassign_operators(conversation) -> list[dict]:
    """The queue's operators a supervisor may hand the open conversation to, with presence and load."""
    if not conversation.is_open:
        return []
    operators = queue_operators([conversation.open_channel], timezone.now()).get(conversation.open_channel_id, [])
    labels = _wallboard_texts()
    return [
        operator | {"presence_label": labels[operator["presence"]]}
        for operator in operators
        if operator["is_active"] and operator["id"] != conversation.operator_id
    ]


def _actions_config(request: HttpRequest, conversation_id: int) -> dict:
    return {
        "csrf_token": get_token(request),
        "failed": _("The action failed."),
        "urls": {
            name: reverse(f"supervisor-api:{name.replace('_', '-')}", args=[conversation_id])
            for name in ("take_over", "reassign", "close", "notes")
        },
    }


def _back_suffix(request: HttpRequest) -> str:
    back = request.GET.get("back", "")
    return "?" + urlencode({"back": back}) if back else ""


@require_GET
@supervisor_required
def wallboard(request: HttpRequest) -> HttpResponse:
    """The live wallboard of the channels the viewer supervises (``?open_channel=<id>``: one of them)."""
    open_channel_id = request.GET.get("open_channel") or None
    if open_channel_id is not None and (not open_channel_id.isdigit() or int(open_channel_id) <= 0):
        return HttpResponse(_("Choose an open channel from the list."), status=400, content_type="text/plain")
    everything = wallboard_channels(request.user)
    if open_channel_id is not None and int(open_channel_id) not in {channel.pk for channel in everything}:
        raise Http404("This open channel does not exist.")
    config = {
        "socket": "/ws/wallboard/" + (f"?open_channel={open_channel_id}" if open_channel_id else ""),
        "csrf_token": get_token(request),
        "me": request.user.pk,
        "urls": {
            "take_over": reverse("supervisor-api:take-over", args=[0]).replace("/0/", "/{id}/"),
            "reassign": reverse("supervisor-api:reassign", args=[0]).replace("/0/", "/{id}/"),
            "close": reverse("supervisor-api:close", args=[0]).replace("/0/", "/{id}/"),
            "notes": reverse("supervisor-api:notes", args=[0]).replace("/0/", "/{id}/"),
            "conversation": reverse("kpi:conversation", args=[0]).replace("/0/", "/{id}/"),
        },
        "texts": _wallboard_texts(),
    }
    return render(
        request,
        "kpi/wallboard.html",
        {"config": config, "channels": everything, "open_channel_id": int(open_channel_id or 0)},
    )


def _wallboard_texts() -> dict[str, Any]:
    """What the wallboard's script writes, in the viewer's language."""
    return {
        "waiting": _("Waiting"),
        "longest": _("Longest wait"),
        # Issue 21: a source whose provider is not answering; the time since follows.
        "source_not_answering": _("%(source)s is not answering; replies wait."),
        "outage_duration": _("Duration:"),
        "with_operators": _("With operators"),
        "operators": _("Operators"),
        "online": _("Online"),
        "break": _("On a break"),
        "offline": _("Offline"),
        "leave": _("On leave"),
        "today": _("Today"),
        "conversations_today": _("Conversations"),
        "missed": _("Missed (nobody answered in time)"),
        "response_misses": _("Response-time misses"),
        "likes": _("Liked"),
        "dislikes": _("Disliked"),
        "nobody_waiting": _("Nobody is waiting."),
        "nobody_held": _("No conversation is with an operator."),
        "no_operators": _("Nobody is in this queue."),
        "offered_to": _("Offered to"),
        "held_back": _("Held back until the channel opens"),
        "offline_request": _("Offline request"),
        "awaiting_reply": _("Client waiting for a reply"),
        "take_over": _("Take over"),
        "reassign": _("Reassign…"),
        "to_queue": _("Back to the queue"),
        "close": _("Close"),
        "note": _("Note"),
        "open": _("Open"),
        "open_console": _("Open in the console"),
        "note_title": _("Private note for the operators"),
        "note_hint": _("Only operators and supervisors see notes; the client never does."),
        "save_note": _("Save note"),
        "cancel": _("Cancel"),
        "note_saved": _("Note saved."),
        "taken_over": _("You hold the conversation now."),
        "reassigned": _("Reassigned."),
        "closed": _("Closed."),
        "confirm_close": _("Close this conversation?"),
        "connecting": _("Connecting…"),
        "live": _("Live"),
        "reconnecting": _("Connection lost; reconnecting…"),
        "failed": _("The action failed."),
        "load": _("Load"),
        "no_limit": _("no limit"),
        "taken_today": _("taken today"),
        "client": _("Client"),
        "source": _("Source"),
        "operator": _("Operator"),
        "since": _("Since"),
        "actions": _("Actions"),
        "wait": _("Wait"),
        "sources": {str(kind): str(label) for kind, label in ConnectorKind.choices},
    }


# --- notifications that stay until read (issue 15), for supervisors who do not work in the console ----------


@require_http_methods(["GET", "POST"])
@supervisor_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The supervisor's own notifications, newest first (``?before=<id>``: the next page); POST ``open`` (mark
    read and go to the conversation), ``read`` (mark one read) or ``read_all``. A malformed id is a 400, another
    person's id a 404, and neither changes anything."""
    if request.method == "POST":
        now = timezone.now()
        if "read_all" in request.POST:
            notifications.notifications_read_all(user=request.user, now=now)
            return redirect("kpi:notifications")
        action = next((name for name in ("open", "read") if name in request.POST), None)
        notification_id = _positive_id(request.POST.get(action, "") if action else "")
        if action is None or notification_id is None:
            return _bad_request(_("Choose a notification to mark read."))
        try:
            notification = notifications.notification_read(user=request.user, notification_id=notification_id, now=now)
        except ServiceError:
            raise Http404("No such notification.") from None
        if action == "open":
            return redirect(_notification_link(request.user, notification.conversation))
        return redirect("kpi:notifications")
    before_id = None
    if request.GET.get("before"):
        before_id = _positive_id(request.GET["before"])
        if before_id is None:
            return _bad_request(_("“before” must be a whole number."))
    page = notifications.notifications_page(request.user, before_id=before_id)
    rows = [{"n": item, "link": _notification_link(request.user, item.conversation)} for item in page.items]
    return render(request, "kpi/notifications.html", {"rows": rows, "page": page})


def _positive_id(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**63 else None


def _bad_request(text: str) -> HttpResponse:
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


def _notification_link(user, conversation) -> str:
    """Where ``user`` reads the conversation: the KPI transcript of a channel they supervise, else the console."""
    if access.supervises(user, conversation.open_channel_id):
        return reverse("kpi:conversation", args=[conversation.pk])
    return f"{reverse('console')}#conversation={conversation.pk}"
