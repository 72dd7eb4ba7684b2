"""K3, R1, R3, O2: the supervisor pages — permissions, figures, filters, CSV, drill-down and rating."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from channels_app.models import ClientRating, Conversation, ConversationStatus
from kpi.charts import daily_chart
from kpi.metrics import ResponseFact, ResponseKind, operator_stats
from kpi.models import ResponseRecord, SupervisorRating
from kpi.selectors import DayPoint, KpiPeriod, kpi_overview
from kpi.services import responses_record
from kpi.templatetags.kpi_format import duration
from tests.factories import ConnectorFactory, OpenChannelFactory, UserFactory
from tests.kpi.conftest import T0, minutes

PAGES = [
    reverse("kpi:overview"),
    reverse("kpi:export"),
    reverse("kpi:conversations"),
]
PERIOD = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def history(start_chat, operators, supervisor):
    """March 2026 in Support: Olga answers fast, Piotr once late (a miss), one unanswered wait; ratings."""
    olga, piotr = operators[0], operators[1]
    fast = start_chat(olga)
    fast.client(minutes(0))
    fast.operator(olga, minutes(1))
    fast.client(minutes(10))
    fast.operator(olga, minutes(12))
    slow = start_chat(piotr)
    slow.client(minutes(30))
    slow.operator(piotr, minutes(40))  # 10 min against a 3-minute initial target
    waiting = start_chat(None)
    waiting.client(minutes(50))
    for chat in (fast, slow, waiting):
        responses_record(conversation_id=chat.conversation.pk, now=minutes(120))
    ClientRating.objects.create(conversation=fast.conversation, operator=olga, value="like", rated_at=minutes(20))
    ClientRating.objects.create(conversation=slow.conversation, operator=piotr, value="dislike", rated_at=minutes(50))
    SupervisorRating.objects.create(
        conversation=slow.conversation, operator=piotr, supervisor=supervisor, score=2, created_at=minutes(60)
    )
    return {"fast": fast, "slow": slow, "waiting": waiting, "olga": olga, "piotr": piotr}


# --- permissions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_o2_pages_need_a_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_o2_pages_refuse_users_without_the_kpi_permission(client, operators, url):
    client.force_login(operators[0])
    assert client.get(url).status_code == 403


def test_o2_transcript_and_rating_refuse_users_without_the_kpi_permission(client, history):
    client.force_login(history["olga"])
    url = reverse("kpi:conversation", args=[history["slow"].conversation.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"score": "5"}).status_code == 403
    assert not SupervisorRating.objects.filter(score=5).exists()


@pytest.mark.parametrize("url", PAGES)
def test_o2_supervisors_and_administrators_read_the_pages(client, supervisor, admin_user, url):
    for user in (supervisor, admin_user):
        client.force_login(user)
        assert client.get(url).status_code == 200


# --- K3: the table ---------------------------------------------------------------------------------------------


def test_k3_overview_shows_per_operator_figures(client, supervisor, history):
    client.force_login(supervisor)
    response = client.get(reverse("kpi:overview"), PERIOD)
    assert response.status_code == 200
    rows = {row.name: row for row in response.context["overview"].rows}
    olga, piotr = rows["Olga"], rows["Piotr"]
    assert (olga.stats.conversations, olga.stats.responses, olga.stats.misses) == (1, 2, 0)
    assert (olga.stats.initial_average_seconds, olga.stats.average_seconds) == (60, 90)
    assert (olga.stats.maximum_seconds, olga.stats.total_seconds) == (120, 180)
    assert (olga.likes, olga.dislikes) == (1, 0)
    assert (piotr.stats.misses, piotr.stats.maximum_seconds, piotr.dislikes) == (1, 600, 1)
    assert (piotr.supervisor_average, piotr.supervisor_ratings) == (2, 1)
    # The wait nobody answered is a miss of the queue (nobody held the conversation).
    assert rows["Nobody (unassigned)"].stats.misses == 1
    totals = response.context["overview"].totals
    assert (totals.stats.conversations, totals.stats.responses, totals.stats.misses) == (2, 3, 2)
    html = response.content.decode()
    assert "Olga" in html and "1 min 30 s" in html and "10 min 00 s" in html
    assert "<svg" in html and "<polyline" in html


def test_k3_open_channel_filter(client, supervisor, history, operators):
    sales = OpenChannelFactory(name="Sales")
    ConnectorFactory(open_channel=sales)
    sales.supervisors.add(supervisor)
    client.force_login(supervisor)
    only_sales = client.get(reverse("kpi:overview"), {**PERIOD, "open_channel": sales.pk})
    assert only_sales.status_code == 200
    assert only_sales.context["overview"].rows == []
    assert "No responses, misses or ratings in this period." in only_sales.content.decode()
    support = client.get(
        reverse("kpi:overview"), {**PERIOD, "open_channel": history["fast"].conversation.open_channel_id}
    )
    assert support.context["overview"].totals.stats.responses == 3


def test_k3_a_supervisor_sees_only_the_open_channels_they_supervise(client, supervisor, history):
    """Issue 13: the figures, the channel filter and the transcripts stop at the supervisor's own channels."""
    support_id = history["fast"].conversation.open_channel_id
    other = UserFactory(username="otto", first_name="Otto")
    other.groups.add(Group.objects.get(name="Supervisors"))
    sales = OpenChannelFactory(name="Sales")
    sales.supervisors.add(other)
    client.force_login(other)
    overview = client.get(reverse("kpi:overview"), PERIOD)
    assert overview.status_code == 200
    assert overview.context["overview"].totals.stats.responses == 0
    assert "Support" not in overview.content.decode()
    assert client.get(reverse("kpi:overview"), {**PERIOD, "open_channel": support_id}).status_code == 400
    transcript = reverse("kpi:conversation", args=[history["fast"].conversation.pk])
    assert client.get(transcript).status_code == 404
    assert client.post(transcript, {"score": "1", "comment": "not mine"}).status_code == 404
    assert not SupervisorRating.objects.filter(supervisor=other).exists()


def test_k3_period_filter_excludes_other_days(client, supervisor, history):
    client.force_login(supervisor)
    response = client.get(reverse("kpi:overview"), {"start": "2026-03-03", "end": "2026-03-31"})
    assert response.context["overview"].totals.stats.responses == 0


def test_k3_default_period_is_the_last_30_days(client, supervisor, time_machine):
    time_machine.move_to(T0, tick=False)
    client.force_login(supervisor)
    period = client.get(reverse("kpi:overview")).context["overview"].period
    assert (period.first_day, period.last_day) == (date(2026, 2, 1), date(2026, 3, 2))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "yesterday"}, "Enter a valid date"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "start on or before"),
        ({"start": "2024-01-01", "end": "2026-03-01"}, "at most 366 days"),
        ({"open_channel": "999999"}, "Select a valid choice"),
        ({"open_channel": "abc"}, "Select a valid choice"),
        ({"operator": "abc"}, "Unknown operator"),
        ({"operator": "999999"}, "Unknown operator"),
    ],
)
@pytest.mark.parametrize("url", PAGES)
def test_k3_bad_filters_answer_400_with_a_message(client, supervisor, url, params, message):
    client.force_login(supervisor)
    response = client.get(url, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_k3_csv_export(client, supervisor, history):
    client.force_login(supervisor)
    response = client.get(reverse("kpi:export"), PERIOD)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="kpi-20260301-20260331.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_name = {row["operator"]: row for row in rows}
    assert by_name["Olga"]["response_avg_s"] == "90.0"
    assert by_name["Olga"]["response_total_s"] == "180.0"
    assert by_name["Piotr"]["misses"] == "1"
    assert by_name["Piotr"]["supervisor_score_avg"] == "2.00"
    assert by_name["All operators"]["responses"] == "3"


def test_k3_csv_neutralises_spreadsheet_formulas_in_names(client, supervisor, start_chat):
    sneaky = UserFactory(username="sneaky", first_name="=HYPERLINK(1)")
    chat = start_chat(sneaky)
    chat.client(minutes(0))
    chat.operator(sneaky, minutes(1))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(2))
    client.force_login(supervisor)
    content = client.get(reverse("kpi:export"), PERIOD).content.decode()
    assert "'=HYPERLINK(1)" in content


def test_k3_sql_figures_agree_with_the_pure_arithmetic(supervisor, kpi_channel, operators, start_chat):
    """The page's aggregate (GROUPING SETS) against kpi.metrics.operator_stats on a random month."""
    rng = random.Random(6)
    for _ in range(25):
        holder = rng.choice([*operators, None])
        chat = start_chat(holder)
        at = T0 + timedelta(minutes=rng.randint(0, 20 * 24 * 60))
        for _ in range(rng.randint(1, 4)):
            chat.client(at)
            at += timedelta(seconds=rng.randint(5, 900))
            if holder is not None and rng.random() < 0.85:
                chat.operator(rng.choice(operators), at)
                at += timedelta(seconds=rng.randint(5, 3600))
        responses_record(conversation_id=chat.conversation.pk, now=T0 + timedelta(days=30))

    period = KpiPeriod(date(2026, 3, 1), date(2026, 3, 31))
    overview = kpi_overview(period, now=T0 + timedelta(days=30))
    facts = [
        ResponseFact(r.conversation_id, r.operator_id, ResponseKind(r.kind), r.response_seconds, r.is_miss)
        for r in ResponseRecord.objects.all()
    ]
    assert facts, "the random month must hold some waits"
    for row in overview.rows:
        expected = operator_stats([f for f in facts if f.operator_id == row.operator_id], operator_id=row.operator_id)
        assert _close(row.stats, expected)
    assert _close(overview.totals.stats, operator_stats(facts))
    assert sum(day.responses for day in overview.days) == overview.totals.stats.responses
    assert sum(day.misses for day in overview.days) == overview.totals.stats.misses


def _close(actual, expected) -> bool:
    for name in ("conversations", "responses", "misses"):
        assert getattr(actual, name) == getattr(expected, name), name
    for name in ("initial_average_seconds", "average_seconds", "maximum_seconds", "total_seconds"):
        assert getattr(actual, name) == pytest.approx(getattr(expected, name)), name
    return True


# --- O2: drill-down and transcript ---------------------------------------------------------------------------------


def test_o2_drill_down_lists_the_operators_conversations(client, supervisor, history):
    client.force_login(supervisor)
    response = client.get(reverse("kpi:conversations"), {**PERIOD, "operator": history["piotr"].pk})
    assert response.status_code == 200
    listed = [conversation.pk for conversation in response.context["page"].object_list]
    assert listed == [history["slow"].conversation.pk]
    assert response.context["operator_name"] == "Piotr"
    html = response.content.decode()
    assert "10 min 00 s" in html and "Disliked" in html


def test_o2_drill_down_of_unassigned_waits(client, supervisor, history):
    client.force_login(supervisor)
    response = client.get(reverse("kpi:conversations"), {**PERIOD, "operator": "none"})
    assert [c.pk for c in response.context["page"].object_list] == [history["waiting"].conversation.pk]


def test_o2_drill_down_survives_a_junk_page_number(client, supervisor, history):
    client.force_login(supervisor)
    assert client.get(reverse("kpi:conversations"), {**PERIOD, "page": "many"}).status_code == 200


def test_o2_overview_links_each_operator_to_the_drill_down(client, supervisor, history):
    client.force_login(supervisor)
    html = client.get(reverse("kpi:overview"), PERIOD).content.decode()
    assert f"operator={history['piotr'].pk}" in html
    assert "operator=none" in html


def test_o2_transcript_shows_the_whole_log_and_the_responses(client, supervisor, history):
    client.force_login(supervisor)
    conversation = history["fast"].conversation
    response = client.get(reverse("kpi:conversation", args=[conversation.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="msg msg-') == 4
    assert "Hi, how can I help?" in html
    assert len(response.context["t"].records) == 2
    assert "Rate Olga" in html


def test_o2_transcript_of_an_unknown_conversation_is_404(client, supervisor):
    client.force_login(supervisor)
    assert client.get(reverse("kpi:conversation", args=[987654])).status_code == 404


# --- R3: rating from the transcript page ------------------------------------------------------------------------------


def test_r3_supervisor_rates_from_the_transcript(client, supervisor, history):
    client.force_login(supervisor)
    conversation = history["fast"].conversation
    url = reverse("kpi:conversation", args=[conversation.pk])
    response = client.post(url, {"score": "5", "comment": "Exemplary."})
    assert response.status_code == 302
    rating = SupervisorRating.objects.get(conversation=conversation)
    assert (rating.operator_id, rating.score, rating.comment) == (history["olga"].pk, 5, "Exemplary.")
    page = client.get(url)
    assert "Exemplary." in page.content.decode()
    assert "Change your rating" in page.content.decode()
    assert "is saved" in page.content.decode()


@pytest.mark.parametrize("score", ["0", "6", "abc", ""])
def test_r3_invalid_score_is_refused_with_400(client, supervisor, history, score):
    client.force_login(supervisor)
    url = reverse("kpi:conversation", args=[history["fast"].conversation.pk])
    assert client.post(url, {"score": score}).status_code == 400
    assert not SupervisorRating.objects.filter(conversation=history["fast"].conversation).exists()


def test_r3_rating_a_conversation_nobody_handled_is_409(client, supervisor, history):
    client.force_login(supervisor)
    Conversation.objects.filter(pk=history["waiting"].conversation.pk).update(status=ConversationStatus.QUEUED)
    response = client.post(reverse("kpi:conversation", args=[history["waiting"].conversation.pk]), {"score": "3"})
    assert response.status_code == 409
    assert "nobody to rate" in response.content.decode()


# --- presentation helpers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0, "0 s"), (42.4, "42 s"), (185, "3 min 05 s"), (7380, "2 h 03 min"), (100800, "1 d 4 h")],
)
def test_k3_durations_read_at_a_glance(seconds, text):
    assert duration(seconds) == text


def test_k3_chart_breaks_the_line_on_days_without_answers_and_draws_misses():
    days = [
        DayPoint(date(2026, 3, 1), 3, 120.0, 0),
        DayPoint(date(2026, 3, 2), 0, None, 2),
        DayPoint(date(2026, 3, 3), 1, 300.0, 1),
    ]
    chart = daily_chart(days)
    assert len(chart.lines) == 2
    assert len(chart.dots) == 2 and len(chart.bars) == 2
    assert chart.bars[0].height > chart.bars[1].height, "two misses stand taller than one"
    assert chart.dots[0].y > chart.dots[1].y, "a longer average sits higher"
    assert chart.minute_ticks[-1].label == "5"
    assert chart.has_data
    assert not daily_chart([DayPoint(date(2026, 3, 1), 0, None, 0)]).has_data


def test_the_admin_link_shows_by_role_never_by_is_staff(client, kpi_channel, supervisor, operators):
    """A supervisor of a channel sees the link to the admin; an operator who may read the KPI page does not,
    is_staff or not."""
    admin_link = f'href="{reverse("admin:index")}"'
    client.force_login(supervisor)
    assert admin_link in client.get(reverse("kpi:overview")).content.decode()

    olga = operators[0]
    olga.is_staff = True
    olga.save()
    olga.user_permissions.add(Permission.objects.get(codename="view_kpi", content_type__app_label="kpi"))
    client.force_login(olga)
    page = client.get(reverse("kpi:overview"))
    assert page.status_code == 200
    assert admin_link not in page.content.decode()
