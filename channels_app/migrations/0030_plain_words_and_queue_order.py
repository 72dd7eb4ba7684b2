"""Issue 20: help texts and range messages in plain words; every queue numbered 1..n in its current order.

The queue editor keeps positions unique (1..n); queues saved by the old form often had every position 0. They
are renumbered here in the order routing already used (position, then id), so nothing changes for routing.
"""

import channels_app.models.open_channel
import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def number_queues(apps, schema_editor):
    QueueMember = apps.get_model("channels_app", "QueueMember")
    previous_channel, number = None, 0
    for member in QueueMember.objects.order_by("open_channel_id", "position", "id"):
        number = number + 1 if member.open_channel_id == previous_channel else 1
        previous_channel = member.open_channel_id
        if member.position != number:
            QueueMember.objects.filter(pk=member.pk).update(position=number)


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0029_connector_circuit_breaker"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(number_queues, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="chatbot",
            name="supports_open_channels",
            field=models.BooleanField(
                default=True,
                help_text="Only a chatbot that supports open channels can be assigned to one.",
                verbose_name="supports open channels",
            ),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="is_unprocessed",
            field=models.BooleanField(default=False, help_text="Nobody answered in time.", verbose_name="unprocessed"),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="no_answer_action_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="nobody_available_notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="out_of_hours_notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="responses_pending",
            field=models.BooleanField(
                default=False,
                help_text="A message or a close is not yet in the response records; the KPI recording task records it and clears this.",
                verbose_name="response times pending",
            ),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="route_not_before",
            field=models.DateTimeField(
                blank=True, help_text="Outside working hours, routing waits until this opening.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="absent_return_after_days",
            field=models.PositiveIntegerField(
                default=1,
                help_text="In days, between 1 and 365. Conversations of an operator on leave this long go back to the queue.",
                validators=[
                    django.core.validators.MinValueValidator(1, message="Enter a number of days between 1 and 365."),
                    django.core.validators.MaxValueValidator(365, message="Enter a number of days between 1 and 365."),
                ],
                verbose_name="return conversations of operators on leave after (days)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="always_monitor_availability",
            field=models.BooleanField(
                default=False,
                help_text="A new client message in a conversation whose operator is offline sends the conversation back to the queue.",
                verbose_name="always monitor availability",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="auto_close_action",
            field=models.CharField(
                choices=[("text", "Send a message"), ("nothing", "Do nothing")],
                default="text",
                help_text="What the client receives when a conversation is closed for inactivity.",
                max_length=10,
                verbose_name="when closed for inactivity",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="auto_close_after_days",
            field=models.PositiveIntegerField(
                default=7,
                help_text="In days, between 1 and 365. A conversation with no message for this long is closed.",
                validators=[
                    django.core.validators.MinValueValidator(1, message="Enter a number of days between 1 and 365."),
                    django.core.validators.MaxValueValidator(365, message="Enter a number of days between 1 and 365."),
                ],
                verbose_name="close conversations inactive for (days)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="canned_reply_list",
            field=models.ForeignKey(
                blank=True,
                help_text="The ready-made answers operators of this channel may insert.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                to="channels_app.cannedreplylist",
                verbose_name="canned replies",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="chat_limit",
            field=models.PositiveIntegerField(
                default=5,
                help_text="Between 1 and 100 conversations per operator.",
                validators=[
                    django.core.validators.MinValueValidator(
                        1, message="Enter a number of conversations between 1 and 100."
                    ),
                    django.core.validators.MaxValueValidator(
                        100, message="Enter a number of conversations between 1 and 100."
                    ),
                ],
                verbose_name="simultaneous chat limit",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="chat_limit_enabled",
            field=models.BooleanField(
                default=False,
                help_text="An operator who holds this many conversations is offered no new one until one ends.",
                verbose_name="limit simultaneous chats",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="chat_limit_exclusion",
            field=models.CharField(
                choices=[
                    ("answered", "Don't count answered conversations"),
                    ("waiting_client", "Don't count conversations waiting for the client"),
                    ("closed", "Don't count closed conversations waiting for a rating"),
                ],
                default="answered",
                help_text="Which conversations do not count towards the limit.",
                max_length=20,
                verbose_name="exclude from the count",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="chatbot_enabled",
            field=models.BooleanField(
                default=False,
                help_text="The chatbot below answers new conversations first and hands them over to an operator.",
                verbose_name="assign a chatbot",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="check_online",
            field=models.BooleanField(
                default=True,
                help_text="Offer conversations only to operators who are online.",
                verbose_name="check online when routing",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="close_message_enabled",
            field=models.BooleanField(default=True, verbose_name="send a message when an operator closes"),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="close_on_rating",
            field=models.BooleanField(
                default=True,
                help_text="When off, the conversation stays open for the time to rate.",
                verbose_name="close as soon as the client rates",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="consent_required",
            field=models.BooleanField(
                default=False,
                help_text="Clients must accept the consent form below before their messages reach an operator.",
                verbose_name="send the personal-data notice",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="crm_enabled",
            field=models.BooleanField(
                default=True,
                help_text="Find the client's CRM contact by phone, e-mail or messenger account and show it in the console.",
                verbose_name="look clients up in the CRM",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="kpi_initial_enabled",
            field=models.BooleanField(
                default=False,
                help_text="Count how long clients wait for the first answer, against the target beside this.",
                verbose_name="initial response time target",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="kpi_initial_target_seconds",
            field=models.PositiveIntegerField(
                default=180,
                help_text="In seconds, between 10 and 43200 (12 hours).",
                validators=[
                    django.core.validators.MinValueValidator(
                        10, message="Enter a number of seconds between 10 and 43200 (12 hours)."
                    ),
                    django.core.validators.MaxValueValidator(
                        43200, message="Enter a number of seconds between 10 and 43200 (12 hours)."
                    ),
                ],
                verbose_name="initial response target (seconds)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="kpi_miss_template",
            field=models.TextField(
                default="#OPERATOR# missed the response time target in conversation #DIALOG#.",
                help_text="#OPERATOR# becomes the operator's name, #DIALOG# the conversation's number with a link.",
                verbose_name="miss notification template",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="kpi_notify_users",
            field=models.ManyToManyField(
                blank=True,
                help_text="Administrators or supervisors told about each missed target.",
                related_name="kpi_notified_channels",
                to=settings.AUTH_USER_MODEL,
                verbose_name="notify about missed targets",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="kpi_subsequent_enabled",
            field=models.BooleanField(
                default=False,
                help_text="Count how long clients wait for each later answer, against the target beside this.",
                verbose_name="subsequent response time target",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="kpi_subsequent_target_seconds",
            field=models.PositiveIntegerField(
                default=300,
                help_text="In seconds, between 10 and 43200 (12 hours).",
                validators=[
                    django.core.validators.MinValueValidator(
                        10, message="Enter a number of seconds between 10 and 43200 (12 hours)."
                    ),
                    django.core.validators.MaxValueValidator(
                        43200, message="Enter a number of seconds between 10 and 43200 (12 hours)."
                    ),
                ],
                verbose_name="subsequent response target (seconds)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="language",
            field=models.CharField(
                choices=[("en", "English"), ("pl", "Polski"), ("vi", "Tiếng Việt")],
                default="en",
                help_text="The language of the texts and e-mails clients receive (transcripts, notifications).",
                max_length=5,
                verbose_name="language for clients",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="lead_creation",
            field=models.CharField(
                choices=[
                    ("auto", "Automatically for every new conversation"),
                    ("manual", "Manually, from the console"),
                    ("off", "Never"),
                ],
                default="auto",
                max_length=10,
                verbose_name="create leads",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="lead_source_mode",
            field=models.CharField(
                choices=[("channel", "The open channel's source (Telegram, Facebook…)"), ("fixed", "A fixed source")],
                default="channel",
                max_length=10,
                verbose_name="lead source",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="max_file_megabytes",
            field=models.PositiveIntegerField(
                default=10,
                help_text="In megabytes, between 1 and 100: the largest file a visitor or an operator may send, and the largest client's file copied from a messenger. The server's own upper limit applies too.",
                validators=[
                    django.core.validators.MinValueValidator(1, message="Enter a size in megabytes between 1 and 100."),
                    django.core.validators.MaxValueValidator(
                        100, message="Enter a size in megabytes between 1 and 100."
                    ),
                ],
                verbose_name="largest file (MB)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="name",
            field=models.CharField(
                help_text="Shown to clients in the chat header.", max_length=120, verbose_name="name"
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="no_answer_action",
            field=models.CharField(
                choices=[
                    ("text", "Send a text"),
                    ("requeue", "Put the conversation back in the queue"),
                    ("nothing", "Do nothing"),
                ],
                default="nothing",
                help_text="“Put the conversation back in the queue” works only with the Evenly distribution.",
                max_length=10,
                verbose_name="when no operator answered in time",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="nobody_available_text",
            field=models.TextField(
                default="All our operators are busy right now. We will answer as soon as one is free.",
                help_text="Sent once when no operator can take the conversation.",
                verbose_name="text when nobody can answer",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="offer_timeout_seconds",
            field=models.PositiveIntegerField(
                default=180,
                help_text="In seconds, between 60 (1 minute) and 43200 (12 hours). A conversation offered to an operator who does not take it in this time is offered to the next one.",
                validators=[
                    django.core.validators.MinValueValidator(
                        60, message="Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."
                    ),
                    django.core.validators.MaxValueValidator(
                        43200, message="Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."
                    ),
                ],
                verbose_name="idle time before forwarding (seconds)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="offline_after_minutes",
            field=models.PositiveIntegerField(
                default=10,
                help_text="In minutes, between 1 and 1440 (24 hours). An operator whose console is open but who does nothing for this long counts as offline.",
                validators=[
                    django.core.validators.MinValueValidator(
                        1, message="Enter a number of minutes between 1 and 1440 (24 hours)."
                    ),
                    django.core.validators.MaxValueValidator(
                        1440, message="Enter a number of minutes between 1 and 1440 (24 hours)."
                    ),
                ],
                verbose_name="operator offline after inactivity (minutes)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="offline_when_inactive",
            field=models.BooleanField(
                default=True,
                help_text="When off, an operator whose console is open counts as online however long they stay idle. A visible console tab always counts as activity.",
                verbose_name="operator goes offline after inactivity",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="operator_identity",
            field=models.CharField(
                choices=[
                    ("profile", "The operator's own name and photo"),
                    ("channel", "The open channel's configured name and photo"),
                    ("hidden", "Nothing"),
                ],
                default="profile",
                help_text="What clients see of the operator who answers them: name and photo.",
                max_length=20,
                verbose_name="operator identity shown to clients",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="out_of_hours_reply_enabled",
            field=models.BooleanField(
                default=True,
                help_text="Send the reply below to a client who writes while the channel is closed.",
                verbose_name="reply outside working hours",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="rating_answers",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Replies a client may type to rate, besides the rating buttons and 👍 / 👎: the like answers, “/”, then the dislike answers, several separated by commas (for example “1, yes / 2, no”). Empty: only the buttons and the thumbs rate, and any other reply is a message. Name these answers in the rating request.",
                max_length=200,
                validators=[channels_app.models.open_channel.validate_rating_answers],
                verbose_name="typed rating answers",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="rating_enabled",
            field=models.BooleanField(
                default=True,
                help_text="When a conversation is closed, the client is asked to rate the answer.",
                verbose_name="ask the client to rate the operator",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="rating_timeout_minutes",
            field=models.PositiveIntegerField(
                default=60,
                help_text="In minutes, between 1 and 10080 (7 days).",
                validators=[
                    django.core.validators.MinValueValidator(
                        1, message="Enter a number of minutes between 1 and 10080 (7 days)."
                    ),
                    django.core.validators.MaxValueValidator(
                        10080, message="Enter a number of minutes between 1 and 10080 (7 days)."
                    ),
                ],
                verbose_name="time to rate (minutes)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="require_clocked_in",
            field=models.BooleanField(
                default=False,
                help_text="Only operators who are clocked in and not on a break receive conversations.",
                verbose_name="don't route to operators not clocked in",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="responsible_follows_transfer",
            field=models.BooleanField(
                default=False,
                help_text="When an operator transfers a conversation, the colleague who takes it becomes the contact's responsible person.",
                verbose_name="responsible person follows manual transfers",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="retention_days",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Messages, files and notes of conversations closed longer ago than this are erased for good, every hour; the figures of the reports stay. In days, between 1 and 3650 (ten years). Empty: keep conversations.",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(
                        1, message="Enter a number of days between 1 and 3650 (ten years)."
                    ),
                    django.core.validators.MaxValueValidator(
                        3650, message="Enter a number of days between 1 and 3650 (ten years)."
                    ),
                ],
                verbose_name="erase conversations closed more than (days) ago",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="route_to_responsible",
            field=models.BooleanField(
                default=False,
                help_text="A client whose CRM contact has a responsible person is offered to that person first.",
                verbose_name="route known clients to their responsible person",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="time_zone",
            field=models.CharField(
                choices=channels_app.models.open_channel._timezone_choices,
                default="UTC",
                help_text="The working hours, and the times on this page, are in this time zone.",
                max_length=64,
                verbose_name="time zone",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="transfer_to_unavailable_after_warning",
            field=models.BooleanField(
                default=False,
                help_text="A transfer to a colleague who is offline, on leave or at the chat limit goes through once the operator confirms the warning. When off, such a transfer is refused.",
                verbose_name="allow transfers to unavailable colleagues after a warning",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="unprocessed_after_seconds",
            field=models.PositiveIntegerField(
                default=1800,
                help_text="In seconds, between 60 (1 minute) and 43200 (12 hours). A conversation nobody answered in this time is marked as unprocessed.",
                validators=[
                    django.core.validators.MinValueValidator(
                        60, message="Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."
                    ),
                    django.core.validators.MaxValueValidator(
                        43200, message="Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."
                    ),
                ],
                verbose_name="mark as unprocessed after (seconds)",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="welcome_enabled",
            field=models.BooleanField(
                default=True,
                help_text="Answer a client's first message with the text beside this.",
                verbose_name="auto-reply to the first message",
            ),
        ),
        migrations.AlterField(
            model_name="openchannel",
            name="working_hours_enabled",
            field=models.BooleanField(
                default=False,
                help_text="Outside the hours below (and on holidays) conversations wait until the channel opens.",
                verbose_name="limit to working hours",
            ),
        ),
        migrations.AlterField(
            model_name="queuemember",
            name="last_assigned_at",
            field=models.DateTimeField(
                blank=True,
                help_text="The Evenly distribution offers a conversation to whoever waited longest.",
                null=True,
                verbose_name="last assigned",
            ),
        ),
        migrations.AlterField(
            model_name="queuemember",
            name="position",
            field=models.PositiveIntegerField(
                default=0,
                help_text="The queue's order: 1 is offered first in the Strictly in order mode.",
                verbose_name="position",
            ),
        ),
        migrations.AlterField(
            model_name="workingperiod",
            name="end",
            field=models.TimeField(
                help_text="In the open channel's time zone; 00:00 means midnight at the end of the day.",
                verbose_name="closes",
            ),
        ),
        migrations.AlterField(
            model_name="workingperiod",
            name="start",
            field=models.TimeField(help_text="In the open channel's time zone.", verbose_name="opens"),
        ),
    ]
