"""The open channel: one configured inbox with its queue, working hours and every rule (O1–O5 and the rest).

Every setting of ``SPEC.md`` is a field of :class:`OpenChannel` (or one of its
inlines). The requirement each field serves is named in a comment beside it;
help texts and validation messages say the rule in the administrator's words
and never carry a requirement ID. Durations are stored as whole seconds or
minutes, with validators whose messages give the range in those units and in
plain time ("between 60 and 43200 seconds (1 minute to 12 hours)").
"""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from channels_app.models.shared import ONE_MINUTE, TWELVE_HOURS, Language
from channels_app.policy import files, ratings

if TYPE_CHECKING:
    # django-stubs-ext is a development requirement: it names types only, nothing imports it at run time.
    from django_stubs_ext import StrOrPromise


def between(low: int, high: int, message: StrOrPromise) -> list[MinValueValidator | MaxValueValidator]:
    """A range check whose message says the whole range (both ends), whichever end was crossed."""
    return [MinValueValidator(low, message=message), MaxValueValidator(high, message=message)]


SECONDS_1_MINUTE_TO_12_HOURS = _("Enter a number of seconds between 60 (1 minute) and 43200 (12 hours).")
SECONDS_10_TO_12_HOURS = _("Enter a number of seconds between 10 and 43200 (12 hours).")


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def validate_rating_answers(setting: str) -> None:
    """R1: the open channel's own rating answers read as ``like answers / dislike answers``."""
    try:
        ratings.parse_rating_answers(setting)
    except ratings.RatingAnswersError as error:
        problems = {
            error.SIDES: _("Write the like answers, one “/”, then the dislike answers, for example “yes / no”."),
            error.EMPTY_SIDE: _("Give at least one answer on each side of the “/”."),
            error.EMPTY_ANSWER: _("An answer is empty: remove the extra comma."),
            error.TOO_LONG: _("“%(answer)s” is too long: an answer has at most %(limit)d characters."),
            error.ON_BOTH_SIDES: _("“%(answer)s” cannot be both a like and a dislike."),
        }
        raise ValidationError(
            problems[error.problem],
            code=error.problem,
            params={"answer": error.answer, "limit": ratings.MAX_ANSWER_LENGTH},
        ) from None


class DistributionMode(models.TextChoices):
    EVENLY = "evenly", _("Evenly")
    STRICTLY_IN_ORDER = "in_order", _("Strictly in order")
    ALL_AT_ONCE = "all_at_once", _("To all at once")


class ChatLimitExclusion(models.TextChoices):
    ANSWERED = "answered", _("Don't count answered conversations")
    WAITING_FOR_CLIENT = "waiting_client", _("Don't count conversations waiting for the client")
    CLOSED = "closed", _("Don't count closed conversations waiting for a rating")


class NoAnswerAction(models.TextChoices):
    SEND_TEXT = "text", _("Send a text")
    BACK_TO_QUEUE = "requeue", _("Put the conversation back in the queue")
    NOTHING = "nothing", _("Do nothing")


class AutoCloseAction(models.TextChoices):
    SEND_TEXT = "text", _("Send a message")
    NOTHING = "nothing", _("Do nothing")


class OperatorIdentity(models.TextChoices):
    OPERATOR_PROFILE = "profile", _("The operator's own name and photo")
    CHANNEL = "channel", _("The open channel's configured name and photo")
    HIDDEN = "hidden", _("Nothing")


class LeadCreation(models.TextChoices):
    AUTOMATIC = "auto", _("Automatically for every new conversation")
    MANUAL = "manual", _("Manually, from the console")
    OFF = "off", _("Never")


class FormFieldMode(models.TextChoices):
    """Whether the live-chat widget's pre-chat form asks for a detail (name, e-mail, phone)."""

    OFF = "off", _("Not asked")
    OPTIONAL = "optional", _("Optional")
    REQUIRED = "required", _("Required")


# The details the live-chat widget's forms may ask for, each a field of OpenChannel named ``prechat_<detail>``.
FORM_DETAILS = ("name", "email", "phone")
OFFLINE_FORM_INTRO_MAX_LENGTH = 500


class LeadSourceMode(models.TextChoices):
    CHANNEL = "channel", _("The open channel's source (Telegram, Facebook…)")
    FIXED = "fixed", _("A fixed source")


# The longest retention an administrator may set (ten years); longer is the same as keeping conversations.
RETENTION_DAYS_MAX = 3650


class OpenChannel(models.Model):
    """One configured inbox: queue, hours, texts and rules (O1–O5 and the rest)."""

    # --- Other (O1, O3) ---
    name = models.CharField(_("name"), max_length=120, help_text=_("Shown to clients in the chat header."))  # O1
    language = models.CharField(
        _("language for clients"),
        max_length=5,
        choices=Language.choices,
        default=Language.ENGLISH,
        help_text=_("The language of the texts and e-mails clients receive (transcripts, notifications)."),  # O3
    )
    is_active = models.BooleanField(_("active"), default=True)
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("supervisors"),
        blank=True,
        related_name="supervised_open_channels",
        help_text=_(
            "People who read this channel's conversations and KPI, rate its operators, take conversations over, "
            "reassign and close them."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # --- Queue (Q1–Q13) ---
    distribution_mode = models.CharField(
        _("distribution"), max_length=20, choices=DistributionMode.choices, default=DistributionMode.EVENLY
    )
    offer_timeout_seconds = models.PositiveIntegerField(
        _("idle time before forwarding (seconds)"),
        default=3 * ONE_MINUTE,
        validators=between(ONE_MINUTE, TWELVE_HOURS, SECONDS_1_MINUTE_TO_12_HOURS),
        help_text=_(
            "In seconds, between 60 (1 minute) and 43200 (12 hours). A conversation offered to an operator who "
            "does not take it in this time is offered to the next one."
        ),  # Q3
    )
    unprocessed_after_seconds = models.PositiveIntegerField(
        _("mark as unprocessed after (seconds)"),
        default=30 * ONE_MINUTE,
        validators=between(ONE_MINUTE, TWELVE_HOURS, SECONDS_1_MINUTE_TO_12_HOURS),
        help_text=_(
            "In seconds, between 60 (1 minute) and 43200 (12 hours). A conversation nobody answered in this time "
            "is marked as unprocessed."
        ),  # Q4
    )
    check_online = models.BooleanField(
        _("check online when routing"),
        default=True,
        help_text=_("Offer conversations only to operators who are online."),
    )
    offline_after_minutes = models.PositiveIntegerField(
        _("operator offline after inactivity (minutes)"),
        default=10,
        validators=between(1, 24 * 60, _("Enter a number of minutes between 1 and 1440 (24 hours).")),
        help_text=_(
            "In minutes, between 1 and 1440 (24 hours). An operator whose console is open but who does nothing "
            "for this long counts as offline."
        ),  # Q6
    )
    offline_when_inactive = models.BooleanField(
        _("operator goes offline after inactivity"),
        default=True,
        help_text=_(
            "When off, an operator whose console is open counts as online however long they stay idle. "
            "A visible console tab always counts as activity."
        ),
    )
    require_clocked_in = models.BooleanField(
        _("don't route to operators not clocked in"),
        default=False,
        help_text=_("Only operators who are clocked in and not on a break receive conversations."),  # Q5
    )
    always_monitor_availability = models.BooleanField(
        _("always monitor availability"),
        default=False,
        help_text=_(
            "A new client message in a conversation whose operator is offline sends the conversation back to the queue."
        ),  # Q7
    )
    chat_limit_enabled = models.BooleanField(
        _("limit simultaneous chats"),
        default=False,
        help_text=_("An operator who holds this many conversations is offered no new one until one ends."),
    )  # Q8
    chat_limit = models.PositiveIntegerField(
        _("simultaneous chat limit"),
        default=5,
        validators=between(1, 100, _("Enter a number of conversations between 1 and 100.")),
        help_text=_("Between 1 and 100 conversations per operator."),
    )
    chat_limit_exclusion = models.CharField(
        _("exclude from the count"),
        max_length=20,
        choices=ChatLimitExclusion.choices,
        default=ChatLimitExclusion.ANSWERED,
        help_text=_("Which conversations do not count towards the limit."),
    )
    transfer_to_unavailable_after_warning = models.BooleanField(
        _("allow transfers to unavailable colleagues after a warning"),
        default=False,
        help_text=_(
            "A transfer to a colleague who is offline, on leave or at the chat limit goes through once the "
            "operator confirms the warning. When off, such a transfer is refused."
        ),
    )
    absent_return_after_days = models.PositiveIntegerField(
        _("return conversations of operators on leave after (days)"),
        default=1,
        validators=between(1, 365, _("Enter a number of days between 1 and 365.")),
        help_text=_(
            "In days, between 1 and 365. Conversations of an operator on leave this long go back to the queue."
        ),
    )
    auto_close_after_days = models.PositiveIntegerField(
        _("close conversations inactive for (days)"),
        default=7,
        validators=between(1, 365, _("Enter a number of days between 1 and 365.")),
        help_text=_("In days, between 1 and 365. A conversation with no message for this long is closed."),  # Q11
    )
    retention_days = models.PositiveIntegerField(
        _("erase conversations closed more than (days) ago"),
        null=True,
        blank=True,
        validators=between(1, RETENTION_DAYS_MAX, _("Enter a number of days between 1 and 3650 (ten years).")),
        help_text=_(
            "Messages, files and notes of conversations closed longer ago than this are erased for good, every "
            "hour; the figures of the reports stay. In days, between 1 and 3650 (ten years). Empty: keep "
            "conversations."
        ),
    )
    operator_identity = models.CharField(
        _("operator identity shown to clients"),
        max_length=20,
        choices=OperatorIdentity.choices,
        default=OperatorIdentity.OPERATOR_PROFILE,
        help_text=_("What clients see of the operator who answers them: name and photo."),  # Q12
    )
    display_name = models.CharField(_("name shown to clients"), max_length=120, blank=True)
    display_photo_url = models.URLField(_("photo shown to clients"), blank=True)
    nobody_available_text = models.TextField(
        _("text when nobody can answer"),
        default="All our operators are busy right now. We will answer as soon as one is free.",
        help_text=_("Sent once when no operator can take the conversation."),  # Q9
    )

    # --- CRM (C1–C5) ---
    crm_enabled = models.BooleanField(
        _("look clients up in the CRM"),
        default=True,
        help_text=_("Find the client's CRM contact by phone, e-mail or messenger account and show it in the console."),
    )  # C1
    lead_creation = models.CharField(
        _("create leads"), max_length=10, choices=LeadCreation.choices, default=LeadCreation.AUTOMATIC
    )  # C2
    lead_source_mode = models.CharField(
        _("lead source"), max_length=10, choices=LeadSourceMode.choices, default=LeadSourceMode.CHANNEL
    )  # C3
    lead_fixed_source = models.CharField(_("fixed lead source"), max_length=60, blank=True)
    route_to_responsible = models.BooleanField(
        _("route known clients to their responsible person"),
        default=False,
        help_text=_("A client whose CRM contact has a responsible person is offered to that person first."),
    )
    responsible_follows_transfer = models.BooleanField(
        _("responsible person follows manual transfers"),
        default=False,
        help_text=_(
            "When an operator transfers a conversation, the colleague who takes it becomes the contact's "
            "responsible person."
        ),
    )

    # --- Working hours (H1, H2) ---
    working_hours_enabled = models.BooleanField(
        _("limit to working hours"),
        default=False,
        help_text=_("Outside the hours below (and on holidays) conversations wait until the channel opens."),
    )  # H1
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        choices=_timezone_choices,
        help_text=_("The working hours, and the times on this page, are in this time zone."),
    )
    out_of_hours_reply_enabled = models.BooleanField(
        _("reply outside working hours"),
        default=True,
        help_text=_("Send the reply below to a client who writes while the channel is closed."),
    )  # H2
    out_of_hours_text = models.TextField(
        _("out-of-hours reply"),
        default="We are closed right now. We will answer when we open.",
    )

    # --- Live chat: the widget's forms (issue 15) ---
    prechat_name = models.CharField(
        _("pre-chat form: name"),
        max_length=10,
        choices=FormFieldMode.choices,
        default=FormFieldMode.OFF,
        help_text=_("Asked in the website chat before the visitor's first message."),
    )
    prechat_email = models.CharField(
        _("pre-chat form: e-mail"),
        max_length=10,
        choices=FormFieldMode.choices,
        default=FormFieldMode.OFF,
        help_text=_(
            "A typed address makes a lead but never links the visitor to an existing CRM contact until they confirm it."
        ),
    )
    prechat_phone = models.CharField(
        _("pre-chat form: phone"),
        max_length=10,
        choices=FormFieldMode.choices,
        default=FormFieldMode.OFF,
    )
    offline_form_enabled = models.BooleanField(
        _("offline form"),
        default=False,
        help_text=_(
            "Outside working hours, or when no operator can answer, the website chat shows a form (name, e-mail or "
            "phone, message) instead of the chat. It becomes a conversation marked as an offline request, answered "
            "when the channel opens."
        ),
    )
    offline_form_intro = models.TextField(
        _("offline form introduction"),
        blank=True,
        max_length=OFFLINE_FORM_INTRO_MAX_LENGTH,
        help_text=_("Shown above the offline form. Empty: a standard sentence in the channel's language."),
    )

    # --- Agreement (A1) ---
    consent_required = models.BooleanField(
        _("send the personal-data notice"),
        default=False,
        help_text=_("Clients must accept the consent form below before their messages reach an operator."),
    )  # A1
    consent_form = models.ForeignKey(
        "ConsentForm", verbose_name=_("consent form"), null=True, blank=True, on_delete=models.PROTECT
    )

    # --- Automatic actions (M1–M5) ---
    welcome_enabled = models.BooleanField(
        _("auto-reply to the first message"),
        default=True,
        help_text=_("Answer a client's first message with the text beside this."),
    )  # M1
    welcome_text = models.TextField(
        _("auto-reply text"), default="Thank you for your message. An operator will answer shortly."
    )
    no_answer_action = models.CharField(
        _("when no operator answered in time"),
        max_length=10,
        choices=NoAnswerAction.choices,
        default=NoAnswerAction.NOTHING,
        help_text=_("“Put the conversation back in the queue” works only with the Evenly distribution."),  # M2
    )
    no_answer_text = models.TextField(
        _("text when no operator answered"),
        blank=True,
        default="Sorry for the wait, we are still looking for a free operator.",
    )
    close_message_enabled = models.BooleanField(_("send a message when an operator closes"), default=True)  # M3
    close_text = models.TextField(_("closing message"), default="Thank you for contacting us.")
    close_message_after_rating = models.BooleanField(
        _("hold the closing message until the conversation is fully closed"), default=False
    )
    auto_close_action = models.CharField(
        _("when closed for inactivity"),
        max_length=10,
        choices=AutoCloseAction.choices,
        default=AutoCloseAction.SEND_TEXT,
        help_text=_("What the client receives when a conversation is closed for inactivity."),  # M4
    )
    auto_close_text = models.TextField(
        _("inactivity closing message"),
        blank=True,
        default="This conversation was closed after a period of inactivity.",
    )
    canned_reply_list = models.ForeignKey(
        "CannedReplyList",
        verbose_name=_("canned replies"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text=_("The ready-made answers operators of this channel may insert."),  # M5
    )

    # --- Quality (R1, R2) ---
    rating_enabled = models.BooleanField(
        _("ask the client to rate the operator"),
        default=True,
        help_text=_("When a conversation is closed, the client is asked to rate the answer."),
    )  # R1
    rating_request_text = models.TextField(_("rating request"), default="Please rate our answer: 👍 or 👎")
    rating_timeout_minutes = models.PositiveIntegerField(
        _("time to rate (minutes)"),
        default=60,
        validators=between(1, 7 * 24 * 60, _("Enter a number of minutes between 1 and 10080 (7 days).")),
        help_text=_("In minutes, between 1 and 10080 (7 days)."),
    )
    close_on_rating = models.BooleanField(
        _("close as soon as the client rates"),
        default=True,
        help_text=_("When off, the conversation stays open for the time to rate."),
    )  # R2
    rating_answers = models.CharField(
        _("typed rating answers"),
        max_length=200,
        blank=True,
        default="",
        validators=[validate_rating_answers],
        help_text=_(
            "Replies a client may type to rate, besides the rating buttons and 👍 / 👎: the like answers, "
            "“/”, then the dislike answers, several separated by commas (for example “1, yes / 2, no”). Empty: "
            "only the buttons and the thumbs rate, and any other reply is a message. Name these answers in the "
            "rating request."
        ),
    )
    rating_thanks_text = models.TextField(_("thanks for the rating"), default="Thank you for your feedback!")

    # --- Files ---
    max_file_megabytes = models.PositiveIntegerField(
        _("largest file (MB)"),
        default=10,
        validators=between(1, 100, _("Enter a size in megabytes between 1 and 100.")),
        help_text=_(
            "In megabytes, between 1 and 100: the largest file a visitor or an operator may send, and the largest "
            "client's file copied from a messenger. The server's own upper limit applies too."
        ),
    )
    accepts_images = models.BooleanField(_("accept images"), default=True, help_text=_("Photos, screenshots, GIFs."))
    accepts_documents = models.BooleanField(
        _("accept documents"), default=True, help_text=_("PDF, text, Word, Excel, PowerPoint, OpenDocument.")
    )
    accepts_audio = models.BooleanField(_("accept audio"), default=True, help_text=_("Voice notes and recordings."))
    accepts_video = models.BooleanField(_("accept video"), default=True)
    accepts_archives = models.BooleanField(_("accept archives"), default=False, help_text=_("ZIP, RAR, 7z."))

    # --- Chatbot (B1, B2) ---
    chatbot_enabled = models.BooleanField(
        _("assign a chatbot"),
        default=False,
        help_text=_("The chatbot below answers new conversations first and hands them over to an operator."),
    )  # B1
    chatbot = models.ForeignKey("Chatbot", verbose_name=_("chatbot"), null=True, blank=True, on_delete=models.PROTECT)

    # --- KPI (K1, K2) ---
    kpi_initial_enabled = models.BooleanField(
        _("initial response time target"),
        default=False,
        help_text=_("Count how long clients wait for the first answer, against the target beside this."),
    )  # K1
    kpi_initial_target_seconds = models.PositiveIntegerField(
        _("initial response target (seconds)"),
        default=3 * ONE_MINUTE,
        validators=between(10, TWELVE_HOURS, SECONDS_10_TO_12_HOURS),
        help_text=_("In seconds, between 10 and 43200 (12 hours)."),
    )
    kpi_subsequent_enabled = models.BooleanField(
        _("subsequent response time target"),
        default=False,
        help_text=_("Count how long clients wait for each later answer, against the target beside this."),
    )  # K1
    kpi_subsequent_target_seconds = models.PositiveIntegerField(
        _("subsequent response target (seconds)"),
        default=5 * ONE_MINUTE,
        validators=between(10, TWELVE_HOURS, SECONDS_10_TO_12_HOURS),
        help_text=_("In seconds, between 10 and 43200 (12 hours)."),
    )
    kpi_working_hours_only = models.BooleanField(_("count response time only inside working hours"), default=False)
    kpi_notify_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("notify about missed targets"),
        blank=True,
        related_name="kpi_notified_channels",
        help_text=_("Administrators or supervisors told about each missed target."),  # K2
    )
    kpi_miss_template = models.TextField(
        _("miss notification template"),
        default="#OPERATOR# missed the response time target in conversation #DIALOG#.",
        help_text=_("#OPERATOR# becomes the operator's name, #DIALOG# the conversation's number with a link."),  # K2
    )

    class Meta:
        verbose_name = _("open channel")
        verbose_name_plural = _("open channels")
        ordering = ["id"]
        permissions = [("configure_openchannel", "Can create and configure open channels")]

    def __str__(self) -> str:
        return self.name

    @property
    def file_limits(self) -> files.FileLimits:
        """What this channel accepts from visitors, operators and messengers (the server's ceiling included)."""
        accepted = {
            files.IMAGES: self.accepts_images,
            files.DOCUMENTS: self.accepts_documents,
            files.AUDIO: self.accepts_audio,
            files.VIDEO: self.accepts_video,
            files.ARCHIVES: self.accepts_archives,
        }
        return files.FileLimits(
            max_bytes=min(self.max_file_megabytes * 1024 * 1024, settings.MAX_ATTACHMENT_BYTES),
            groups=tuple(group for group in files.FILE_GROUPS if accepted[group]),
        )

    def prechat_mode(self, detail: str) -> str:
        """How the pre-chat form asks for ``detail`` (one of :data:`FORM_DETAILS`): off, optional or required."""
        return str(getattr(self, f"prechat_{detail}"))

    @property
    def prechat_asked(self) -> bool:
        return any(self.prechat_mode(detail) != FormFieldMode.OFF for detail in FORM_DETAILS)

    @property
    def typed_rating_answers(self) -> ratings.RatingAnswers:
        """R1: the replies this channel takes as a rating besides the thumbs (none when the setting is invalid:
        it is validated on every form, so only a write that skipped validation can leave it so)."""
        try:
            return ratings.parse_rating_answers(self.rating_answers)
        except ratings.RatingAnswersError:
            return ratings.RatingAnswers()

    @staticmethod
    def next_default_name() -> str:
        """O1: "Open channel N", N one more than the highest N used so far."""
        highest = 0
        for name in OpenChannel.objects.filter(name__startswith="Open channel ").values_list("name", flat=True):
            suffix = name.removeprefix("Open channel ").strip()
            if suffix.isdigit():
                highest = max(highest, int(suffix))
        return f"Open channel {max(highest, OpenChannel.objects.count()) + 1}"

    def clean(self) -> None:
        errors: dict[str, str | Promise] = {}
        if self.no_answer_action == NoAnswerAction.BACK_TO_QUEUE and self.distribution_mode != DistributionMode.EVENLY:
            errors["no_answer_action"] = _(
                "“Put the conversation back in the queue” is allowed only with the Evenly distribution."
            )
        if self.no_answer_action == NoAnswerAction.SEND_TEXT and not self.no_answer_text.strip():
            errors["no_answer_text"] = _("Write the text to send when no operator answered.")
        if self.consent_required and not self.consent_form_id:
            errors["consent_form"] = _("Choose the consent form to show.")
        if self.chatbot_enabled and not self.chatbot_id:
            errors["chatbot"] = _("Choose the chatbot to assign.")
        if self.chatbot_enabled and self.chatbot is not None and not self.chatbot.supports_open_channels:
            errors["chatbot"] = _("This chatbot cannot answer in open channels: choose another one.")
        if self.lead_source_mode == LeadSourceMode.FIXED and not self.lead_fixed_source.strip():
            errors["lead_fixed_source"] = _("Name the fixed lead source.")
        if self.operator_identity == OperatorIdentity.CHANNEL and not self.display_name.strip():
            errors["display_name"] = _("Give the name to show to clients.")
        for detail in FORM_DETAILS:
            field = f"prechat_{detail}"
            if getattr(self, field) not in FormFieldMode.values:
                errors[field] = _("Choose whether the pre-chat form asks for this: not asked, optional or required.")
        if len(self.offline_form_intro or "") > OFFLINE_FORM_INTRO_MAX_LENGTH:
            errors["offline_form_intro"] = _("The introduction has at most %(limit)d characters.") % {
                "limit": OFFLINE_FORM_INTRO_MAX_LENGTH
            }
        kpi_on = self.kpi_initial_enabled or self.kpi_subsequent_enabled
        if kpi_on and "#DIALOG#" not in self.kpi_miss_template:
            errors["kpi_miss_template"] = _(
                "The template must contain #DIALOG#, where the link to the conversation goes."
            )
        limit = settings.MAX_OPEN_CHANNELS
        if self._state.adding and limit and OpenChannel.objects.count() >= limit:
            errors["__all__"] = _("The licence allows at most %(limit)d open channels.") % {"limit": limit}
        if errors:
            raise ValidationError(errors)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class QueueMember(models.Model):
    """Q1: an operator in an open channel's ordered queue."""

    open_channel = models.ForeignKey(OpenChannel, related_name="queue_members", on_delete=models.CASCADE)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="queue_memberships", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("The queue's order: 1 is offered first in the Strictly in order mode.")
    )
    last_assigned_at = models.DateTimeField(
        _("last assigned"),
        null=True,
        blank=True,
        help_text=_("The Evenly distribution offers a conversation to whoever waited longest."),
    )

    class Meta:
        verbose_name = _("queue member")
        verbose_name_plural = _("queue members")
        ordering = ["open_channel", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["open_channel", "operator"], name="queue_member_unique_operator"),
        ]

    def __str__(self) -> str:
        return f"{self.operator} in {self.open_channel}"


class WorkingPeriod(models.Model):
    """H1: one opening period on one weekday, in the open channel's time zone."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    open_channel = models.ForeignKey(OpenChannel, related_name="working_periods", on_delete=models.CASCADE)
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("opens"), help_text=_("In the open channel's time zone."))
    end = models.TimeField(
        _("closes"), help_text=_("In the open channel's time zone; 00:00 means midnight at the end of the day.")
    )

    class Meta:
        verbose_name = _("working period")
        verbose_name_plural = _("working hours")
        ordering = ["open_channel", "weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start is not None and self.end is not None:
            midnight_end = self.end.hour == 0 and self.end.minute == 0
            if not midnight_end and self.end <= self.start:
                raise ValidationError({"end": _("The period must close after it opens (00:00 means midnight).")})


class Holiday(models.Model):
    """H1: a date on which the open channel is closed all day."""

    open_channel = models.ForeignKey(OpenChannel, related_name="holidays", on_delete=models.CASCADE)
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["open_channel", "date"]
        constraints = [models.UniqueConstraint(fields=["open_channel", "date"], name="holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()
