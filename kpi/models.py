"""Response-time KPI records and supervisor ratings (K1–K3, R3)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SupervisorRating(models.Model):
    """R3: a supervisor's 1–5 rating of how an operator handled a conversation."""

    conversation = models.ForeignKey(
        "channels_app.Conversation", related_name="supervisor_ratings", on_delete=models.CASCADE
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="supervisor_ratings_received", null=True, on_delete=models.SET_NULL
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="supervisor_ratings_given", on_delete=models.PROTECT
    )
    score = models.PositiveSmallIntegerField(_("score"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(_("comment"), blank=True)
    # The time of the latest rating: rating again replaces score, comment and time.
    created_at = models.DateTimeField(_("rated"), default=timezone.now)

    class Meta:
        verbose_name = _("supervisor rating")
        verbose_name_plural = _("supervisor ratings")
        ordering = ["-created_at"]
        permissions = [("view_kpi", "Can read KPI pages and rate operators")]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "supervisor"], name="supervisor_rating_once"),
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5), name="supervisor_rating_1_to_5"),
        ]
        indexes = [models.Index(fields=["created_at"], name="supervisor_rating_created")]

    def __str__(self) -> str:
        return f"#{self.conversation_id}: {self.score}/5"


class ResponseKind(models.TextChoices):
    INITIAL = "initial", _("Initial response")
    SUBSEQUENT = "subsequent", _("Subsequent response")


class ResponseRecord(models.Model):
    """K1: one client wait for an operator and its response, recomputable from the conversation's messages.

    Unique per conversation and the client message that started the wait, so
    recording again (a retried task, a second signal) updates the same row.
    The open channel, target and clock are those in force when the wait
    started; a later transfer to another open channel or a settings change
    does not rewrite history.
    """

    conversation = models.ForeignKey(
        "channels_app.Conversation", related_name="response_records", on_delete=models.CASCADE
    )
    open_channel = models.ForeignKey("channels_app.OpenChannel", related_name="+", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=10, choices=ResponseKind.choices)
    client_message = models.ForeignKey("channels_app.Message", related_name="+", on_delete=models.CASCADE)
    waiting_since = models.DateTimeField(_("waiting since"))
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        related_name="response_records",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text=_("Who answered; for an unanswered miss, who held the conversation when it was missed."),
    )
    response_message = models.ForeignKey(
        "channels_app.Message", related_name="+", null=True, blank=True, on_delete=models.SET_NULL
    )
    responded_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True, help_text=_("Answered, or closed unanswered."))
    response_seconds = models.FloatField(_("response time (s)"), null=True, blank=True)
    working_hours_only = models.BooleanField(_("counted inside working hours only"), default=False)
    target_seconds = models.PositiveIntegerField(_("target (s)"), null=True, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    is_miss = models.BooleanField(_("missed the target"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("response record")
        verbose_name_plural = _("response records")
        ordering = ["waiting_since", "id"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "client_message"], name="response_record_once_per_wait")
        ]
        indexes = [
            # The KPI page aggregates a period's waits; the included columns
            # let PostgreSQL answer from the index alone.
            models.Index(
                fields=["waiting_since"],
                include=["operator", "open_channel", "conversation", "kind", "response_seconds", "is_miss"],
                name="response_period_covering",
            ),
            models.Index(fields=["operator", "waiting_since"], name="response_operator_period"),
            # The miss sweep looks only at waits still open with a target.
            models.Index(
                fields=["due_at"],
                condition=models.Q(ended_at__isnull=True, is_miss=False, due_at__isnull=False),
                name="response_open_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.kind} since {self.waiting_since:%Y-%m-%d %H:%M}"


class KpiMiss(models.Model):
    """K2: one missed target, notified once (unique per response record)."""

    response_record = models.OneToOneField(ResponseRecord, related_name="miss", on_delete=models.CASCADE)
    conversation = models.ForeignKey("channels_app.Conversation", related_name="kpi_misses", on_delete=models.CASCADE)
    open_channel = models.ForeignKey("channels_app.OpenChannel", related_name="+", on_delete=models.CASCADE)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="kpi_misses", null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ResponseKind.choices)
    detected_at = models.DateTimeField(_("detected"))
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)
    text = models.TextField(_("notification text"), blank=True)
    recipients = models.JSONField(_("notified users"), default=list, blank=True)

    class Meta:
        verbose_name = _("missed target")
        verbose_name_plural = _("missed targets")
        ordering = ["-detected_at"]
        indexes = [
            models.Index(
                fields=["detected_at"], condition=models.Q(notified_at__isnull=True), name="kpi_miss_to_notify"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.kind} missed at {self.detected_at:%Y-%m-%d %H:%M}"


class _RollupKey(models.Model):
    """What a rollup row is about: an open channel, an operator (none: unassigned waits) and a local day."""

    open_channel = models.ForeignKey("channels_app.OpenChannel", related_name="+", on_delete=models.CASCADE)
    # No database constraint: deleting a user sets their response records' operator to NULL (in the ORM,
    # not in a trigger), and the rollup keeps the old id until ``kpi_rollup_rebuild`` moves it, rather
    # than losing the figures from the totals.
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
    )
    day = models.DateField(_("local day"))

    class Meta:
        abstract = True


class KpiDay(_RollupKey):
    """The rollup: one open channel's waits of one operator on one local day (the channel's time zone).

    Holds every additive figure of the K3 page (counts, sums, the maximum, misses), so a long period is
    read from one row per channel, operator and day instead of every wait. Kept up to date by recording
    (:mod:`kpi.rollup`, in the same transaction as the response records) and rebuilt by
    ``manage.py kpi_rollup_rebuild``. The distinct number of conversations is not additive across days
    in general, but it is for a conversation answered under one (channel, operator, day) only:
    ``conversations_only_here`` counts those, and :class:`KpiConversationDay` the others.
    """

    waits = models.PositiveIntegerField(default=0)
    responses = models.PositiveIntegerField(default=0)
    response_seconds_sum = models.FloatField(default=0.0)
    initial_responses = models.PositiveIntegerField(default=0)
    initial_seconds_sum = models.FloatField(default=0.0)
    maximum_seconds = models.FloatField(null=True, blank=True)
    misses = models.PositiveIntegerField(default=0)
    # Conversations whose every answered wait is of this channel, operator and day (most of them): each
    # counts once in any period, operator or channel selection, so they add up across rows.
    conversations_only_here = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("KPI day")
        verbose_name_plural = _("KPI days")
        constraints = [
            models.UniqueConstraint(
                fields=["open_channel", "operator", "day"], nulls_distinct=False, name="kpi_day_once"
            )
        ]
        indexes = [models.Index(fields=["day"], name="kpi_day_by_day")]

    def __str__(self) -> str:
        return f"{self.open_channel_id}/{self.operator_id} {self.day}: {self.responses} responses"


class KpiConversationDay(_RollupKey):
    """A conversation had an answered wait of this operator, in this open channel, on this local day.

    The K3 "conversations" figure counts distinct conversations, which no per-day sum gives exactly
    (a conversation answered on two days, by two operators or in two channels would count twice). A
    conversation with one such row only (``also_elsewhere`` false) is counted by
    ``KpiDay.conversations_only_here``; the page counts distinct ``conversation_id`` over the rows of the
    others only (``also_elsewhere``, read through a partial index), a fraction of the conversations.
    Rewritten for a conversation whenever its response records are (under its row lock).
    """

    conversation = models.ForeignKey("channels_app.Conversation", related_name="+", on_delete=models.CASCADE)
    # The conversation has answered waits under another (channel, operator, day) too.
    also_elsewhere = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("KPI conversation day")
        verbose_name_plural = _("KPI conversation days")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "open_channel", "operator", "day"],
                nulls_distinct=False,
                name="kpi_conversation_day_once",
            )
        ]
        indexes = [
            # The page's distinct count, over the conversations answered under several keys only.
            models.Index(
                fields=["open_channel", "day"],
                include=["operator", "conversation"],
                condition=models.Q(also_elsewhere=True),
                name="kpi_conversation_day_shared",
            ),
            # Recounting ``KpiDay.conversations_only_here`` of one key.
            models.Index(
                fields=["day", "open_channel"],
                include=["operator"],
                condition=models.Q(also_elsewhere=False),
                name="kpi_conversation_day_alone",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.operator_id} {self.day}"
