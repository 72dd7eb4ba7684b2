"""Open channels, their connectors and queues, and the conversations they route.

Every setting of ``SPEC.md`` is a field of :class:`OpenChannel` (or one of its
inlines); requirement IDs appear in help texts so the admin, the code and the
spec can be read side by side. Durations are stored as whole seconds or
minutes with validators for their documented ranges.
"""

from __future__ import annotations

import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

ONE_MINUTE = 60
TWELVE_HOURS = 12 * 60 * 60


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_public_key() -> str:
    return secrets.token_urlsafe(16)


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    POLISH = "pl", "Polski"
    VIETNAMESE = "vi", "Tiếng Việt"


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


class LeadSourceMode(models.TextChoices):
    CHANNEL = "channel", _("The open channel's source (Telegram, Facebook…)")
    FIXED = "fixed", _("A fixed source")


class OpenChannel(models.Model):
    """One configured inbox: queue, hours, texts and rules (O1–O5 and the rest)."""

    # --- Other (O1, O3) ---
    name = models.CharField(_("name"), max_length=120, help_text=_("O1: shown to clients in the chat header."))
    language = models.CharField(
        _("language for clients"),
        max_length=5,
        choices=Language.choices,
        default=Language.ENGLISH,
        help_text=_("O3: language of client-facing texts and e-mails (transcripts, notifications)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # --- Queue (Q1–Q13) ---
    distribution_mode = models.CharField(
        _("distribution"), max_length=20, choices=DistributionMode.choices, default=DistributionMode.EVENLY
    )
    offer_timeout_seconds = models.PositiveIntegerField(
        _("idle time before forwarding (seconds)"),
        default=3 * ONE_MINUTE,
        validators=[MinValueValidator(ONE_MINUTE), MaxValueValidator(TWELVE_HOURS)],
        help_text=_("Q3: 1 minute to 12 hours. An offer not taken in this time moves on."),
    )
    unprocessed_after_seconds = models.PositiveIntegerField(
        _("mark as unprocessed after (seconds)"),
        default=30 * ONE_MINUTE,
        validators=[MinValueValidator(ONE_MINUTE), MaxValueValidator(TWELVE_HOURS)],
        help_text=_("Q4: 1 minute to 12 hours. Unanswered conversations are flagged as missed."),
    )
    check_online = models.BooleanField(
        _("check online when routing"), default=True, help_text=_("Q5: route only to operators who are online.")
    )
    offline_after_minutes = models.PositiveIntegerField(
        _("operator offline after inactivity (minutes)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_("Q6: an operator with a connected console but no activity for this long counts as offline."),
    )
    require_clocked_in = models.BooleanField(
        _("don't route to operators not clocked in"),
        default=False,
        help_text=_("Q5: only operators who are clocked in and not on a break receive conversations."),
    )
    always_monitor_availability = models.BooleanField(
        _("always monitor availability"),
        default=False,
        help_text=_("Q7: a new client message in a conversation whose operator is offline sends it back to the queue."),
    )
    chat_limit_enabled = models.BooleanField(_("limit simultaneous chats"), default=False, help_text=_("Q8"))
    chat_limit = models.PositiveIntegerField(
        _("simultaneous chat limit"), default=5, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    chat_limit_exclusion = models.CharField(
        _("exclude from the count"),
        max_length=20,
        choices=ChatLimitExclusion.choices,
        default=ChatLimitExclusion.ANSWERED,
        help_text=_("Q8: which conversations do not count towards the limit."),
    )
    absent_return_after_days = models.PositiveIntegerField(
        _("return conversations of operators on leave after (days)"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Q10: conversations of an operator on leave this long go back to the queue."),
    )
    auto_close_after_days = models.PositiveIntegerField(
        _("close conversations inactive for (days)"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Q11"),
    )
    operator_identity = models.CharField(
        _("operator identity shown to clients"),
        max_length=20,
        choices=OperatorIdentity.choices,
        default=OperatorIdentity.OPERATOR_PROFILE,
        help_text=_("Q12"),
    )
    display_name = models.CharField(_("name shown to clients"), max_length=120, blank=True)
    display_photo_url = models.URLField(_("photo shown to clients"), blank=True)
    nobody_available_text = models.TextField(
        _("text when nobody can answer"),
        default="All our operators are busy right now. We will answer as soon as one is free.",
        help_text=_("Q9: sent once when no operator can take the conversation."),
    )

    # --- CRM (C1–C5) ---
    crm_enabled = models.BooleanField(_("look clients up in the CRM"), default=True, help_text=_("C1"))
    lead_creation = models.CharField(
        _("create leads"), max_length=10, choices=LeadCreation.choices, default=LeadCreation.AUTOMATIC, help_text="C2"
    )
    lead_source_mode = models.CharField(
        _("lead source"), max_length=10, choices=LeadSourceMode.choices, default=LeadSourceMode.CHANNEL, help_text="C3"
    )
    lead_fixed_source = models.CharField(_("fixed lead source"), max_length=60, blank=True)
    route_to_responsible = models.BooleanField(
        _("route known clients to their responsible person"), default=False, help_text=_("C4")
    )
    responsible_follows_transfer = models.BooleanField(
        _("responsible person follows manual transfers"), default=False, help_text=_("C5")
    )

    # --- Working hours (H1, H2) ---
    working_hours_enabled = models.BooleanField(_("limit to working hours"), default=False, help_text=_("H1"))
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", choices=_timezone_choices)
    out_of_hours_reply_enabled = models.BooleanField(_("reply outside working hours"), default=True, help_text="H2")
    out_of_hours_text = models.TextField(
        _("out-of-hours reply"),
        default="We are closed right now. We will answer when we open.",
    )

    # --- Agreement (A1) ---
    consent_required = models.BooleanField(_("send the personal-data notice"), default=False, help_text=_("A1"))
    consent_form = models.ForeignKey(
        "ConsentForm", verbose_name=_("consent form"), null=True, blank=True, on_delete=models.PROTECT
    )

    # --- Automatic actions (M1–M5) ---
    welcome_enabled = models.BooleanField(_("auto-reply to the first message"), default=True, help_text=_("M1"))
    welcome_text = models.TextField(
        _("auto-reply text"), default="Thank you for your message. An operator will answer shortly."
    )
    no_answer_action = models.CharField(
        _("when no operator answered in time"),
        max_length=10,
        choices=NoAnswerAction.choices,
        default=NoAnswerAction.NOTHING,
        help_text=_("M2: 'put back in the queue' is allowed only with Evenly."),
    )
    no_answer_text = models.TextField(
        _("text when no operator answered"),
        blank=True,
        default="Sorry for the wait, we are still looking for a free operator.",
    )
    close_message_enabled = models.BooleanField(
        _("send a message when an operator closes"), default=True, help_text="M3"
    )
    close_text = models.TextField(_("closing message"), default="Thank you for contacting us.")
    close_message_after_rating = models.BooleanField(
        _("hold the closing message until the conversation is fully closed"), default=False
    )
    auto_close_action = models.CharField(
        _("when closed for inactivity"),
        max_length=10,
        choices=AutoCloseAction.choices,
        default=AutoCloseAction.SEND_TEXT,
        help_text=_("M4"),
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
        help_text=_("M5"),
    )

    # --- Quality (R1, R2) ---
    rating_enabled = models.BooleanField(_("ask the client to rate the operator"), default=True, help_text=_("R1"))
    rating_request_text = models.TextField(_("rating request"), default="Please rate our answer: 👍 or 👎")
    rating_timeout_minutes = models.PositiveIntegerField(
        _("time to rate (minutes)"), default=60, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]
    )
    close_on_rating = models.BooleanField(_("close as soon as the client rates"), default=True, help_text=_("R2"))
    rating_thanks_text = models.TextField(_("thanks for the rating"), default="Thank you for your feedback!")

    # --- Chatbot (B1, B2) ---
    chatbot_enabled = models.BooleanField(_("assign a chatbot"), default=False, help_text=_("B1"))
    chatbot = models.ForeignKey("Chatbot", verbose_name=_("chatbot"), null=True, blank=True, on_delete=models.PROTECT)

    # --- KPI (K1, K2) ---
    kpi_initial_enabled = models.BooleanField(_("initial response time target"), default=False, help_text=_("K1"))
    kpi_initial_target_seconds = models.PositiveIntegerField(
        _("initial response target (seconds)"),
        default=3 * ONE_MINUTE,
        validators=[MinValueValidator(10), MaxValueValidator(TWELVE_HOURS)],
    )
    kpi_subsequent_enabled = models.BooleanField(_("subsequent response time target"), default=False, help_text="K1")
    kpi_subsequent_target_seconds = models.PositiveIntegerField(
        _("subsequent response target (seconds)"),
        default=5 * ONE_MINUTE,
        validators=[MinValueValidator(10), MaxValueValidator(TWELVE_HOURS)],
    )
    kpi_working_hours_only = models.BooleanField(_("count response time only inside working hours"), default=False)
    kpi_notify_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("notify about missed targets"),
        blank=True,
        related_name="kpi_notified_channels",
        help_text=_("K2: administrators or supervisors told about each miss."),
    )
    kpi_miss_template = models.TextField(
        _("miss notification template"),
        default="#OPERATOR# missed the response time target in conversation #DIALOG#.",
        help_text=_("K2: #OPERATOR# becomes the operator's name, #DIALOG# the conversation's id with a link."),
    )

    class Meta:
        verbose_name = _("open channel")
        verbose_name_plural = _("open channels")
        ordering = ["id"]
        permissions = [("configure_openchannel", "Can create and configure open channels")]

    def __str__(self) -> str:
        return self.name

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
        errors: dict[str, str] = {}
        if self.no_answer_action == NoAnswerAction.BACK_TO_QUEUE and self.distribution_mode != DistributionMode.EVENLY:
            errors["no_answer_action"] = _(
                "“Put the conversation back in the queue” is allowed only with the Evenly distribution (M2)."
            )
        if self.no_answer_action == NoAnswerAction.SEND_TEXT and not self.no_answer_text.strip():
            errors["no_answer_text"] = _("Write the text to send when no operator answered.")
        if self.consent_required and not self.consent_form_id:
            errors["consent_form"] = _("Choose the consent form to show (A1).")
        if self.chatbot_enabled and not self.chatbot_id:
            errors["chatbot"] = _("Choose the chatbot to assign (B1).")
        if self.chatbot_id and self.chatbot_enabled and not self.chatbot.supports_open_channels:
            errors["chatbot"] = _("This chatbot does not support open channels (B2).")
        if self.lead_source_mode == LeadSourceMode.FIXED and not self.lead_fixed_source.strip():
            errors["lead_fixed_source"] = _("Name the fixed lead source (C3).")
        if self.operator_identity == OperatorIdentity.CHANNEL and not self.display_name.strip():
            errors["display_name"] = _("Give the name to show to clients (Q12).")
        kpi_on = self.kpi_initial_enabled or self.kpi_subsequent_enabled
        if kpi_on and "#DIALOG#" not in self.kpi_miss_template:
            errors["kpi_miss_template"] = _("The template must contain #DIALOG# (K2).")
        limit = settings.MAX_OPEN_CHANNELS
        if self._state.adding and limit and OpenChannel.objects.count() >= limit:
            errors["__all__"] = _("The licence allows at most %(limit)d open channels (O4).") % {"limit": limit}
        if errors:
            raise ValidationError(errors)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class QueueMember(models.Model):
    """Q1: an operator in an open channel's ordered queue."""

    open_channel = models.ForeignKey(OpenChannel, related_name="queue_members", on_delete=models.CASCADE)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="queue_memberships", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(_("position"), default=0)
    last_assigned_at = models.DateTimeField(
        _("last assigned"), null=True, blank=True, help_text=_("Evenly distribution picks the longest-waiting.")
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
    start = models.TimeField(_("opens"))
    end = models.TimeField(_("closes"), help_text=_("00:00 means midnight at the end of the day."))

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
                raise ValidationError({"end": _("The period must close after it opens.")})


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


class ConnectorKind(models.TextChoices):
    LIVECHAT = "livechat", _("Website live chat")
    TELEGRAM = "telegram", "Telegram"
    FACEBOOK = "facebook", "Facebook Messenger"
    WHATSAPP = "whatsapp", "WhatsApp"
    ZALO = "zalo", "Zalo"


class Connector(models.Model):
    """S1–S3: one account of one source, attached to exactly one open channel."""

    open_channel = models.ForeignKey(OpenChannel, related_name="connectors", on_delete=models.CASCADE)
    kind = models.CharField(_("source"), max_length=20, choices=ConnectorKind.choices)
    account_id = models.CharField(
        _("account id"),
        max_length=128,
        help_text=_("The bot's id, page id, phone number id or Official Account id; for live chat, the site key."),
    )
    name = models.CharField(_("label"), max_length=120, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    access_token = models.CharField(_("access token"), max_length=512, blank=True)
    app_secret = models.CharField(_("app secret"), max_length=256, blank=True, help_text=_("Meta / Zalo app secret."))
    verify_token = models.CharField(_("verify token"), max_length=128, blank=True, default=new_public_key)
    webhook_secret = models.CharField(_("webhook secret"), max_length=128, default=new_secret)
    public_key = models.CharField(_("widget key"), max_length=64, default=new_public_key, unique=True)
    webhook_url = models.URLField(_("registered webhook"), blank=True)
    webhook_registered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")
        ordering = ["open_channel", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "account_id"], name="connector_account_in_one_channel"),
            models.UniqueConstraint(fields=["open_channel", "kind"], name="connector_one_per_kind"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.account_id}"

    def clean(self) -> None:
        errors = {}
        if self.kind and self.account_id:
            clash = Connector.objects.filter(kind=self.kind, account_id=self.account_id).exclude(pk=self.pk).first()
            if clash:
                errors["account_id"] = _(
                    "This account is already connected to “%(channel)s”; one account belongs to one open channel (S3)."
                ) % {"channel": clash.open_channel}
        if self.kind and self.open_channel_id:
            twin = Connector.objects.filter(open_channel_id=self.open_channel_id, kind=self.kind).exclude(pk=self.pk)
            if twin.exists():
                errors["kind"] = _("This open channel already has a %(kind)s connector (S3).") % {
                    "kind": self.get_kind_display()
                }
        if errors:
            raise ValidationError(errors)


class OperatorProfile(models.Model):
    """Presence, shift state and public identity of an operator (Q5, Q6, Q12).

    Dismissed operators are inactive users (``User.is_active`` false); absences
    are :class:`LeavePeriod` rows.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, related_name="operator_profile", on_delete=models.CASCADE)
    display_name = models.CharField(_("name shown to clients"), max_length=120, blank=True)
    photo_url = models.URLField(_("photo"), blank=True)
    clocked_in = models.BooleanField(_("clocked in"), default=False)
    clocked_in_at = models.DateTimeField(null=True, blank=True)
    on_break = models.BooleanField(_("on a break"), default=False)
    break_started_at = models.DateTimeField(null=True, blank=True)
    console_heartbeat_at = models.DateTimeField(
        _("last console heartbeat"), null=True, blank=True, help_text=_("Q6: a connected console tab pings regularly.")
    )
    last_activity_at = models.DateTimeField(
        _("last activity"), null=True, blank=True, help_text=_("Q6: last keystroke, click or message in the console.")
    )
    is_online = models.BooleanField(
        _("online"), default=False, help_text=_("Kept up to date by the console and the presence sweep.")
    )
    language = models.CharField(_("console language"), max_length=5, choices=Language.choices, default=Language.ENGLISH)

    class Meta:
        verbose_name = _("operator profile")
        verbose_name_plural = _("operator profiles")

    def __str__(self) -> str:
        return self.public_name

    @property
    def public_name(self) -> str:
        return self.display_name or self.user.get_full_name() or self.user.get_username()


class LeavePeriod(models.Model):
    """Q5, Q10: an absence; an operator is on leave while one covers now."""

    operator = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="leave_periods", on_delete=models.CASCADE)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    reason = models.CharField(_("reason"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("leave period")
        verbose_name_plural = _("leave periods")
        ordering = ["operator", "starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="leave_ends_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.operator} {self.starts_at:%Y-%m-%d}–{self.ends_at:%Y-%m-%d}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The leave must end after it starts.")})


class ConsentForm(models.Model):
    """A1: a personal-data notice; each change of its text makes a new version."""

    name = models.CharField(_("name"), max_length=120)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=5, choices=Language.choices, default=Language.ENGLISH)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("consent form")
        verbose_name_plural = _("consent forms")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            previous_text = ConsentForm.objects.filter(pk=self.pk).values_list("text", flat=True).first()
            if previous_text is not None and previous_text != self.text:
                self.version += 1
        super().save(*args, **kwargs)
        ConsentFormVersion.objects.get_or_create(form=self, number=self.version, defaults={"text": self.text})

    @property
    def current_version(self) -> ConsentFormVersion:
        return self.versions.get(number=self.version)


class ConsentFormVersion(models.Model):
    """The exact text a client agreed to; never edited after creation."""

    form = models.ForeignKey(ConsentForm, related_name="versions", on_delete=models.PROTECT)
    number = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["form", "-number"]
        constraints = [models.UniqueConstraint(fields=["form", "number"], name="consent_version_unique")]

    def __str__(self) -> str:
        return f"{self.form.name} v{self.number}"


class ConsentRecord(models.Model):
    """A1: who agreed to which version of which form, when, and through which source."""

    client = models.ForeignKey("Client", related_name="consents", on_delete=models.CASCADE)
    form_version = models.ForeignKey(ConsentFormVersion, related_name="records", on_delete=models.PROTECT)
    conversation = models.ForeignKey("Conversation", null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=20, choices=ConnectorKind.choices)
    accepted_at = models.DateTimeField()

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-accepted_at"]

    def __str__(self) -> str:
        return f"{self.client} accepted {self.form_version} at {self.accepted_at:%Y-%m-%d %H:%M}"


class CannedReplyList(models.Model):
    """M5: a named list of ready answers used by one or more open channels."""

    name = models.CharField(_("name"), max_length=120, unique=True)

    class Meta:
        verbose_name = _("canned reply list")
        verbose_name_plural = _("canned reply lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CannedReply(models.Model):
    reply_list = models.ForeignKey(CannedReplyList, related_name="replies", on_delete=models.CASCADE)
    shortcut = models.SlugField(_("shortcut"), max_length=40, help_text=_("Typed as /shortcut in the console."))
    title = models.CharField(_("title"), max_length=120, blank=True)
    text = models.TextField(_("text"))

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["reply_list", "shortcut"]
        constraints = [models.UniqueConstraint(fields=["reply_list", "shortcut"], name="canned_reply_unique_shortcut")]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class Chatbot(models.Model):
    """B1, B2: a bot that answers first and hands over to the queue."""

    class Kind(models.TextChoices):
        RULES = "rules", _("Built-in rule bot")
        EXTERNAL = "external", _("External bot over HTTP")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.RULES)
    supports_open_channels = models.BooleanField(_("supports open channels"), default=True, help_text=_("B2"))
    is_active = models.BooleanField(_("active"), default=True)
    greeting = models.TextField(_("greeting"), blank=True)
    handover_keywords = models.CharField(
        _("hand-over phrases"), max_length=255, default="operator", help_text=_("Comma-separated.")
    )
    max_unmatched = models.PositiveIntegerField(
        _("hand over after unmatched messages"), default=2, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    handover_text = models.TextField(_("hand-over message"), default="Connecting you to an operator.")
    endpoint_url = models.URLField(_("bot URL"), blank=True, help_text=_("External bots: events are POSTed here."))
    signing_secret = models.CharField(_("signing secret"), max_length=128, default=new_secret)
    api_token = models.CharField(_("API token"), max_length=128, default=new_secret, unique=True)
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (seconds)"), default=10, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )

    class Meta:
        verbose_name = _("chatbot")
        verbose_name_plural = _("chatbots")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == self.Kind.EXTERNAL and not self.endpoint_url:
            raise ValidationError({"endpoint_url": _("An external bot needs the URL its events are sent to.")})


class ChatbotRule(models.Model):
    chatbot = models.ForeignKey(Chatbot, related_name="rules", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0)
    keywords = models.CharField(_("keywords or phrases"), max_length=255, help_text=_("Comma-separated."))
    answer = models.TextField(_("answer"))

    class Meta:
        verbose_name = _("chatbot rule")
        verbose_name_plural = _("chatbot rules")
        ordering = ["chatbot", "position", "id"]

    def __str__(self) -> str:
        return self.keywords


class InboundUpdate(models.Model):
    """A provider's webhook delivery, stored as received before any processing.

    The webhook answers as soon as this row exists; a Celery task turns it
    into messages. ``update_id`` (Telegram's update_id, Meta's message id…)
    is unique per connector, so a provider's retries change nothing.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    connector = models.ForeignKey(Connector, related_name="inbound_updates", on_delete=models.CASCADE)
    update_id = models.CharField(max_length=128)
    payload = models.JSONField()
    received_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("inbound update")
        verbose_name_plural = _("inbound updates")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "update_id"], name="inbound_update_unique_per_connector")
        ]

    def __str__(self) -> str:
        return f"{self.connector} update {self.update_id} ({self.state})"


class Client(models.Model):
    """A person writing in, identified per connector by the source's own user id."""

    connector = models.ForeignKey(Connector, related_name="clients", on_delete=models.PROTECT)
    external_id = models.CharField(_("source user id"), max_length=128)
    name = models.CharField(_("name"), max_length=200, blank=True)
    username = models.CharField(_("username"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    avatar_url = models.URLField(blank=True)
    contact = models.ForeignKey("crm.Contact", related_name="clients", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["connector", "external_id"], name="client_unique_per_connector")]

    def __str__(self) -> str:
        if self.name or self.username:
            return self.name or self.username
        if self.connector.kind == ConnectorKind.LIVECHAT:
            # Visitor ids are long random tokens; a short tail tells visitors apart on screen.
            return _("Visitor %(tag)s") % {"tag": self.external_id[-6:].upper()}
        return f"{self.connector.get_kind_display()} {self.external_id}"

    @property
    def can_be_contacted(self) -> bool:
        """C2: messenger users can be written to again; an anonymous visitor needs a phone or e-mail."""
        if self.connector.kind != ConnectorKind.LIVECHAT:
            return True
        return bool(self.phone or self.email)


class ConversationStatus(models.TextChoices):
    BOT = "bot", _("With the chatbot")
    QUEUED = "queued", _("Waiting in the queue")
    OFFERED = "offered", _("Offered to an operator")
    ACTIVE = "active", _("With an operator")
    CLOSED_PENDING_RATING = "closed_pending_rating", _("Closed, waiting for a rating")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (
    ConversationStatus.BOT,
    ConversationStatus.QUEUED,
    ConversationStatus.OFFERED,
    ConversationStatus.ACTIVE,
)


class Conversation(models.Model):
    """One enquiry from the first message to the final close.

    Who holds it is ``operator``; every step has its timestamp so that KPIs
    and audits can be recomputed from the rows.
    """

    class ClosedBy(models.TextChoices):
        OPERATOR = "operator", _("Operator")
        INACTIVITY = "inactivity", _("Closed for inactivity")
        CLIENT_RATING = "rating", _("Client rated")
        RATING_TIMEOUT = "rating_timeout", _("Rating time ran out")
        SYSTEM = "system", _("System")

    open_channel = models.ForeignKey(OpenChannel, related_name="conversations", on_delete=models.PROTECT)
    connector = models.ForeignKey(Connector, related_name="conversations", on_delete=models.PROTECT)
    client = models.ForeignKey(Client, related_name="conversations", on_delete=models.PROTECT)
    status = models.CharField(
        _("status"), max_length=30, choices=ConversationStatus.choices, default=ConversationStatus.QUEUED, db_index=True
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        related_name="conversations",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    first_operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", null=True, blank=True, on_delete=models.SET_NULL
    )
    is_unprocessed = models.BooleanField(_("unprocessed"), default=False, help_text=_("Q4: nobody answered in time."))
    unprocessed_at = models.DateTimeField(null=True, blank=True)
    no_answer_action_at = models.DateTimeField(null=True, blank=True, help_text="M2")
    nobody_available_notified_at = models.DateTimeField(null=True, blank=True, help_text="Q9")
    out_of_hours_notified_at = models.DateTimeField(null=True, blank=True, help_text="H2")
    route_not_before = models.DateTimeField(
        null=True, blank=True, help_text=_("H2: outside working hours, routing waits until this opening.")
    )
    created_at = models.DateTimeField(_("created"), db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    first_offered_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_message_author = models.CharField(max_length=10, blank=True)
    last_client_message_at = models.DateTimeField(null=True, blank=True)
    last_operator_message_at = models.DateTimeField(null=True, blank=True)
    bot_handed_over_at = models.DateTimeField(null=True, blank=True)
    bot_unmatched_count = models.PositiveIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=20, choices=ClosedBy.choices, blank=True)
    rating_deadline = models.DateTimeField(null=True, blank=True)
    fully_closed_at = models.DateTimeField(null=True, blank=True)
    lead = models.ForeignKey("crm.Lead", related_name="conversations", null=True, blank=True, on_delete=models.SET_NULL)
    responses_pending = models.BooleanField(
        _("response times pending"),
        default=False,
        help_text=_(
            "K1: a message or a close is not yet in the response records; the KPI recording task records it and "
            "clears this."
        ),
    )

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["open_channel", "status"], name="conv_channel_status"),
            models.Index(fields=["operator", "status"], name="conv_operator_status"),
            # K1: the recording task reads only the few pending rows, in id order.
            models.Index(fields=["id"], condition=Q(responses_pending=True), name="conv_responses_pending"),
        ]
        constraints = [
            # At most one open conversation per client and connector: a new
            # message continues it instead of starting a second one.
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(status__in=["bot", "queued", "offered", "active"]),
                name="conversation_one_open_per_client",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(operator__isnull=False), name="conversation_active_has_operator"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.client}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Message(models.Model):
    class Author(models.TextChoices):
        CLIENT = "client", _("Client")
        OPERATOR = "operator", _("Operator")
        BOT = "bot", _("Bot")
        SYSTEM = "system", _("System")

    class Delivery(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(Conversation, related_name="messages", on_delete=models.CASCADE)
    connector = models.ForeignKey(Connector, related_name="messages", on_delete=models.PROTECT)
    author_kind = models.CharField(max_length=10, choices=Author.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    source_message_id = models.CharField(max_length=128, null=True, blank=True)
    # Identifies one system message (e.g. "welcome", "nobody_available") so a
    # retried task cannot send it twice.
    system_key = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.RECEIVED)
    delivery_error = models.TextField(blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_conv_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "source_message_id"],
                condition=Q(source_message_id__isnull=False),
                name="message_source_id_unique_per_connector",
            ),
            models.UniqueConstraint(
                fields=["conversation", "system_key"],
                condition=~Q(system_key=""),
                name="message_system_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author_kind}: {self.text[:40]}"


class Offer(models.Model):
    """A conversation proposed to one operator, with a deadline (Q2, Q3)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        EXPIRED = "expired", _("Expired")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        DECLINED = "declined", _("Declined")

    conversation = models.ForeignKey(Conversation, related_name="offers", on_delete=models.CASCADE)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="offers", on_delete=models.CASCADE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    queue_position = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "operator"],
                condition=Q(status="pending"),
                name="offer_one_pending_per_operator",
            )
        ]

    def __str__(self) -> str:
        return f"offer of #{self.conversation_id} to {self.operator} ({self.status})"


class RoutingDecision(models.Model):
    """Why a conversation went to whom: every operator considered, and why each was skipped."""

    conversation = models.ForeignKey(Conversation, related_name="routing_decisions", on_delete=models.CASCADE)
    created_at = models.DateTimeField()
    trigger = models.CharField(max_length=40)
    mode = models.CharField(max_length=20)
    outcome = models.CharField(max_length=40)
    chosen = models.JSONField(default=list)
    candidates = models.JSONField(default=list)

    class Meta:
        verbose_name = _("routing decision")
        verbose_name_plural = _("routing decisions")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%H:%M:%S} {self.trigger} → {self.outcome}"


class StatusChange(models.Model):
    """Every change of a conversation's status or holder, for audits and KPIs."""

    conversation = models.ForeignKey(Conversation, related_name="status_changes", on_delete=models.CASCADE)
    at = models.DateTimeField()
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.from_status or '—'} → {self.to_status}"


class ClientRating(models.Model):
    """R1: the client's like / dislike after close."""

    class Value(models.TextChoices):
        LIKE = "like", _("Like")
        DISLIKE = "dislike", _("Dislike")

    conversation = models.OneToOneField(Conversation, related_name="client_rating", on_delete=models.CASCADE)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    value = models.CharField(max_length=10, choices=Value.choices)
    rated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("client rating")
        verbose_name_plural = _("client ratings")

    def __str__(self) -> str:
        return f"#{self.conversation_id}: {self.value}"
