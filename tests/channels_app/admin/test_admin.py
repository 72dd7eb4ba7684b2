"""The open channel's admin: tabs, validation messages, permissions (O1, O4, Q1, Q3, Q4, M2, S3)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.forms.models import model_to_dict

from channels_app import models as m
from channels_app.admin.open_channel import OPEN_CHANNEL_TABS
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

INLINE_PREFIXES = ("queue_members", "working_periods", "holidays", "connectors")


def change_url(channel: m.OpenChannel) -> str:
    return f"/admin/channels_app/openchannel/{channel.pk}/change/"


ADD_URL = "/admin/channels_app/openchannel/add/"


def form_data(channel: m.OpenChannel | None = None, inlines: dict[str, list[dict]] | None = None, **overrides):
    """POST data for the open channel's change form, as the browser would send it."""
    channel = channel or m.OpenChannel(name="Open channel 1")
    data = {}
    for key, value in model_to_dict(channel).items():
        if key in ("id",):
            continue
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, list):
            data[key] = [item.pk for item in value]
        elif value is None:
            data[key] = ""
        else:
            data[key] = value
    inlines = inlines or {}
    for prefix in INLINE_PREFIXES:
        rows = inlines.get(prefix, [])
        initial = len([row for row in rows if row.get("id")])
        data[f"{prefix}-TOTAL_FORMS"] = len(rows)
        data[f"{prefix}-INITIAL_FORMS"] = initial
        data[f"{prefix}-MIN_NUM_FORMS"] = 0
        data[f"{prefix}-MAX_NUM_FORMS"] = 1000
        for index, row in enumerate(rows):
            for key, value in row.items():
                data[f"{prefix}-{index}-{key}"] = value
    for key, value in overrides.items():
        if value is False:
            data.pop(key, None)
        elif value is True:
            data[key] = "on"
        else:
            data[key] = value
    return data


def errors_of(response) -> str:
    assert response.status_code == 200, "a rejected form re-renders with its errors"
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_O1_new_open_channel_is_named_open_channel_n(admin_client):
    OpenChannelFactory(name="Open channel 1")
    OpenChannelFactory(name="Sales")
    response = admin_client.get(ADD_URL)
    assert 'value="Open channel 3"' in response.content.decode()


def test_O1_open_channel_created_and_renamed_through_the_admin(admin_client):
    response = admin_client.post(ADD_URL, form_data(name="Open channel 1"))
    assert response.status_code == 302, errors_of(response)
    channel = m.OpenChannel.objects.get()
    response = admin_client.post(change_url(channel), form_data(channel, name="Helpdesk"))
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Helpdesk"


@pytest.mark.parametrize(("slug", "label"), OPEN_CHANNEL_TABS)
def test_each_tab_renders_with_its_settings(admin_client, open_channel, slug, label):
    page = admin_client.get(change_url(open_channel)).content.decode()
    assert f'data-tab="{slug}"' in page
    assert f">{label}</a>" in page
    assert f"tab-{slug}" in page.split("</nav>", 1)[1], f"no section carries the {label} tab"


@pytest.mark.parametrize(
    ("slug", "field"),
    [
        ("queue", "distribution_mode"),
        ("queue", "offer_timeout_seconds"),
        ("queue", "offline_when_inactive"),
        ("crm", "lead_creation"),
        ("working-hours", "time_zone"),
        ("agreement", "consent_form"),
        ("automatic-actions", "no_answer_action"),
        ("quality", "rating_timeout_minutes"),
        ("quality", "rating_answers"),
        ("chatbot", "chatbot"),
        ("kpi", "kpi_miss_template"),
        ("other", "language"),
    ],
)
def test_each_setting_sits_in_its_tab(admin_client, open_channel, slug, field):
    page = admin_client.get(change_url(open_channel)).content.decode()
    sections = re.split(r'<fieldset class="module', page)
    owning = [section for section in sections if f'id="id_{field}"' in section]
    assert owning, f"{field} is not on the page"
    assert f"tab-{slug}" in owning[0].split(">", 1)[0]


def test_inlines_sit_in_their_tabs(admin_client, open_channel):
    page = admin_client.get(change_url(open_channel)).content.decode()
    for prefix, slug in (
        ("queue_members", "queue"),
        ("working_periods", "working-hours"),
        ("holidays", "working-hours"),
        ("connectors", "connectors"),
    ):
        group = page.split(f'id="{prefix}-group"', 1)[1].split("</fieldset>", 1)[0]
        assert f"tab-{slug}" in group, prefix


@pytest.mark.parametrize("field", ["offer_timeout_seconds", "unprocessed_after_seconds"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (59, "Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."),
        (12 * 3600 + 1, "Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."),
        (-5, "Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."),
    ],
)
def test_Q3_Q4_durations_outside_one_minute_to_twelve_hours_are_rejected(
    admin_client, open_channel, field, value, message
):
    response = admin_client.post(change_url(open_channel), form_data(open_channel, **{field: value}))
    assert message in errors_of(response)
    open_channel.refresh_from_db()
    assert getattr(open_channel, field) != value


def test_Q3_Q4_durations_at_the_bounds_are_accepted(admin_client, open_channel):
    response = admin_client.post(
        change_url(open_channel),
        form_data(open_channel, offer_timeout_seconds=60, unprocessed_after_seconds=43200),
    )
    assert response.status_code == 302
    open_channel.refresh_from_db()
    assert (open_channel.offer_timeout_seconds, open_channel.unprocessed_after_seconds) == (60, 43200)


def test_Q6_the_inactivity_rule_is_switched_off_in_the_queue_tab(admin_client, open_channel):
    assert open_channel.offline_when_inactive
    response = admin_client.post(change_url(open_channel), form_data(open_channel, offline_when_inactive=False))
    assert response.status_code == 302
    open_channel.refresh_from_db()
    assert not open_channel.offline_when_inactive


def test_M2_back_to_queue_only_with_evenly(admin_client, open_channel):
    response = admin_client.post(
        change_url(open_channel),
        form_data(open_channel, distribution_mode="in_order", no_answer_action="requeue"),
    )
    assert "allowed only with the Evenly distribution." in errors_of(response)
    response = admin_client.post(
        change_url(open_channel),
        form_data(open_channel, distribution_mode="evenly", no_answer_action="requeue"),
    )
    assert response.status_code == 302


def test_R1_typed_rating_answers_are_validated_and_saved(admin_client, open_channel):
    response = admin_client.post(change_url(open_channel), form_data(open_channel, rating_answers="tak, nie"))
    assert "Write the like answers, one “/”, then the dislike answers" in errors_of(response)
    response = admin_client.post(change_url(open_channel), form_data(open_channel, rating_answers="ok / OK"))
    assert "“ok” cannot be both a like and a dislike." in errors_of(response)
    response = admin_client.post(change_url(open_channel), form_data(open_channel, rating_answers="1, tak / 2, nie"))
    assert response.status_code == 302
    open_channel.refresh_from_db()
    assert open_channel.rating_answers == "1, tak / 2, nie"


def test_Q8_chat_limit_must_be_at_least_one(admin_client, open_channel):
    response = admin_client.post(
        change_url(open_channel), form_data(open_channel, chat_limit_enabled=True, chat_limit=0)
    )
    assert "Enter a number of conversations between 1 and 100." in errors_of(response)


def test_A1_consent_notice_needs_a_form(admin_client, open_channel):
    response = admin_client.post(change_url(open_channel), form_data(open_channel, consent_required=True))
    assert "Choose the consent form to show." in errors_of(response)


def test_B1_chatbot_on_needs_a_bot(admin_client, open_channel):
    response = admin_client.post(change_url(open_channel), form_data(open_channel, chatbot_enabled=True))
    assert "Choose the chatbot to assign." in errors_of(response)


def test_C3_fixed_lead_source_needs_a_name(admin_client, open_channel):
    response = admin_client.post(change_url(open_channel), form_data(open_channel, lead_source_mode="fixed"))
    assert "Name the fixed lead source." in errors_of(response)


def test_K2_miss_template_must_name_the_dialog(admin_client, open_channel):
    response = admin_client.post(
        change_url(open_channel),
        form_data(open_channel, kpi_initial_enabled=True, kpi_miss_template="#OPERATOR# was late"),
    )
    assert "The template must contain #DIALOG#, where the link to the conversation goes." in errors_of(response)


def test_O4_max_open_channels(admin_client, settings):
    settings.MAX_OPEN_CHANNELS = 1
    OpenChannelFactory()
    response = admin_client.post(ADD_URL, form_data(name="One too many"))
    assert "The licence allows at most 1 open channels." in errors_of(response)
    assert m.OpenChannel.objects.count() == 1


def test_Q1_max_queue_operators(admin_client, open_channel, settings):
    settings.MAX_QUEUE_OPERATORS = 3
    members = [
        {"id": member.pk, "operator": member.operator_id, "position": member.position}
        for member in open_channel.queue_members.all()
    ]
    newcomer = OperatorFactory(username="radek")
    rows = [*members, {"operator": newcomer.pk, "position": 3}]
    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"queue_members": rows}))
    assert "The licence allows at most 3 operators in a queue; this queue would have 4." in errors_of(response)
    assert open_channel.queue_members.count() == 3


def test_Q1_queue_members_saved_in_order(admin_client):
    first, second = OperatorFactory(username="ewa"), OperatorFactory(username="jan")
    rows = [{"operator": second.pk, "position": 1}, {"operator": first.pk, "position": 0}]
    response = admin_client.post(ADD_URL, form_data(name="Open channel 1", inlines={"queue_members": rows}))
    assert response.status_code == 302, errors_of(response)
    channel = m.OpenChannel.objects.get()
    assert [member.operator.username for member in channel.queue_members.all()] == ["ewa", "jan"]


CONNECTOR_ADD_URL = "/admin/channels_app/connector/add/"


def test_S3_one_account_belongs_to_one_open_channel(admin_client, open_channel):
    other = OpenChannelFactory(name="Sales")
    ConnectorFactory(open_channel=other, kind="telegram", account_id="bot-42")
    row = {"open_channel": open_channel.pk, "kind": "telegram", "account_id": "bot-42", "is_active": "on"}
    response = admin_client.post(CONNECTOR_ADD_URL, row)
    assert "one account belongs to one open channel." in errors_of(response)
    assert not open_channel.connectors.filter(kind="telegram").exists()


def test_S3_one_connector_of_each_source_per_open_channel(admin_client, open_channel):
    row = {"open_channel": open_channel.pk, "kind": "livechat", "account_id": "second-site", "is_active": "on"}
    response = admin_client.post(CONNECTOR_ADD_URL, row)
    assert "This open channel already has a Website live chat connector; it may have one of each source." in errors_of(
        response
    )
    assert open_channel.connectors.count() == 1


def test_H1_working_period_must_close_after_it_opens(admin_client, open_channel):
    rows = [{"weekday": 0, "start": "17:00", "end": "09:00"}]
    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"working_periods": rows}))
    assert "The period must close after it opens (00:00 means midnight)." in errors_of(response)
    rows = [{"weekday": 0, "start": "09:00", "end": "13:00"}, {"weekday": 0, "start": "14:00", "end": "00:00"}]
    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"working_periods": rows}))
    assert response.status_code == 302
    assert open_channel.working_periods.count() == 2


def test_routing_decisions_are_shown_on_the_conversation(admin_client, open_channel):
    from django.utils import timezone

    from tests.factories import ClientFactory, ConversationFactory

    conversation = ConversationFactory(client=ClientFactory(connector=open_channel.connectors.get()))
    m.RoutingDecision.objects.create(
        conversation=conversation,
        created_at=timezone.now(),
        trigger="new_message",
        mode="evenly",
        outcome="offered",
        chosen=[1],
        candidates=[
            {"operator_id": 1, "name": "Olga", "eligible": True, "reasons": []},
            {"operator_id": 2, "name": "Piotr", "eligible": False, "reasons": ["at limit 3/3"]},
        ],
    )
    page = admin_client.get(f"/admin/channels_app/conversation/{conversation.pk}/change/").content.decode()
    assert "Piotr: at limit 3/3" in page
    assert "Olga: eligible" in page


class TestO4Permissions:
    @pytest.fixture
    def staff_in(self, db):
        def make(role: str):
            # The admin opens for the supervisors of some channel (not this one): the role's group decides the rest.
            user = UserFactory(username=f"{role.lower()}-user")
            user.groups.add(Group.objects.get(name=role))
            OpenChannelFactory(name=f"Elsewhere ({role})").supervisors.add(user)
            return user

        return make

    def test_operator_cannot_change_an_open_channel(self, client, staff_in, open_channel):
        client.force_login(staff_in("Operators"))
        assert client.get(change_url(open_channel)).status_code == 403
        response = client.post(change_url(open_channel), form_data(open_channel, name="Hijacked"))
        assert response.status_code == 403
        open_channel.refresh_from_db()
        assert open_channel.name == "Support"

    def test_supervisor_can_look_but_not_change_or_add(self, client, staff_in, open_channel):
        supervisor = staff_in("Supervisors")
        client.force_login(supervisor)
        # Roles are per open channel: a channel someone does not supervise is not there for them (issue 13).
        assert client.get(change_url(open_channel)).status_code == 302
        open_channel.supervisors.add(supervisor)
        page = client.get(change_url(open_channel))
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
        assert client.post(change_url(open_channel), form_data(open_channel, name="Renamed")).status_code == 403
        assert client.get(ADD_URL).status_code == 403
        open_channel.refresh_from_db()
        assert open_channel.name == "Support"

    def test_administrator_can_add_and_change(self, client, staff_in, open_channel):
        client.force_login(staff_in("Administrators"))
        assert client.get(ADD_URL).status_code == 200
        response = client.post(change_url(open_channel), form_data(open_channel, name="Renamed"))
        assert response.status_code == 302
        open_channel.refresh_from_db()
        assert open_channel.name == "Renamed"
