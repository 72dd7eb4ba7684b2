"""Conversations: one enquiry from the first message to the final close, and every step it took.

Who holds a conversation is ``operator``; offers, routing decisions, status
changes and the rating are rows with timestamps, so KPIs and audits can be
recomputed from them.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels_app.models.client import Client
from channels_app.models.connector import Connector
from channels_app.models.open_channel import OpenChannel
from channels_app.models.operator import operator_display_name


class ConversationStatus(models.TextChoices):
    BOT = "bot", _("With the chatbot")
    # A1 in a messenger: the client was sent the consent notice; routed once they agree.
    CONSENT = "consent", _("Waiting for the client's consent")
    QUEUED = "queued", _("Waiting in the queue")
    OFFERED = "offered", _("Offered to an operator")
    ACTIVE = "active", _("With an operator")
    CLOSED_PENDING_RATING = "closed_pending_rating", _("Closed, waiting for a rating")
    CLOSED = "closed", _("Closed")


# Not closed: the client's next message continues it (one per client, a constraint below).
OPEN_STATUSES = (
    ConversationStatus.CONSENT,
    ConversationStatus.BOT,
    ConversationStatus.QUEUED,
    ConversationStatus.OFFERED,
    ConversationStatus.ACTIVE,
)
# Closed by an operator, a sweep or the client's rating; the first still waits for the rating (R1).
CLOSED_STATUSES = (ConversationStatus.CLOSED_PENDING_RATING, ConversationStatus.CLOSED)

# The longest text a message may have, whoever writes it (providers, bots, operators).
MESSAGE_TEXT_MAX_LENGTH = 20_000
# The longest text a person types into the console or the live-chat widget (their boxes and frames).
TYPED_TEXT_MAX_LENGTH = 4_000


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def routable(self, now: datetime) -> ConversationQuerySet:
        """Waiting in the queue and free to be offered now: not held back until working hours begin (H2)."""
        return self.filter(status=ConversationStatus.QUEUED).filter(
            Q(route_not_before__isnull=True) | Q(route_not_before__lte=now)
        )


def routable_now(status: str, route_not_before: datetime | None, now: datetime) -> bool:
    """:meth:`ConversationQuerySet.routable` for one row's values (also read without an instance, by routing's SQL)."""
    return status == ConversationStatus.QUEUED and (route_not_before is None or route_not_before <= now)


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
    is_unprocessed = models.BooleanField(_("unprocessed"), default=False, help_text=_("Nobody answered in time."))  # Q4
    unprocessed_at = models.DateTimeField(null=True, blank=True)
    no_answer_action_at = models.DateTimeField(null=True, blank=True)  # M2
    nobody_available_notified_at = models.DateTimeField(null=True, blank=True)  # Q9
    out_of_hours_notified_at = models.DateTimeField(null=True, blank=True)  # H2
    is_offline_request = models.BooleanField(
        _("offline request"),
        default=False,
        help_text=_(
            "Left through the website chat's offline form, outside working hours or when nobody could answer: "
            "answer by e-mail or phone if the visitor has gone."
        ),
    )
    route_not_before = models.DateTimeField(
        null=True, blank=True, help_text=_("Outside working hours, routing waits until this opening.")
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
            "A message or a close is not yet in the response records; the KPI recording task records it and "
            "clears this."
        ),
    )

    # Issue 19: its messages, files and notes were erased (by an erasure or the open channel's retention); the row,
    # its timestamps, offers, routing decisions and response records stay for the KPI figures.
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["open_channel", "status"], name="conv_channel_status"),
            models.Index(fields=["operator", "status"], name="conv_operator_status"),
            # K1: the recording task reads only the few pending rows, in id order.
            models.Index(fields=["id"], condition=Q(responses_pending=True), name="conv_responses_pending"),
            # Issue 19: the retention sweep reads a channel's closed conversations not yet erased, oldest first.
            models.Index(
                fields=["open_channel", "closed_at"],
                condition=Q(status="closed", erased_at__isnull=True),
                name="conv_retention_due",
            ),
        ]
        constraints = [
            # At most one open conversation per client and connector: a new
            # message continues it instead of starting a second one.
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(status__in=[status.value for status in OPEN_STATUSES]),
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

    def is_routable(self, now: datetime) -> bool:
        """The row-level twin of :meth:`ConversationQuerySet.routable`."""
        return routable_now(self.status, self.route_not_before, now)


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
        # Receipts (issue 15.5) where the source reports them; the order is ``policy.delivery``.
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(Conversation, related_name="messages", on_delete=models.CASCADE)
    connector = models.ForeignKey(Connector, related_name="messages", on_delete=models.PROTECT)
    author_kind = models.CharField(max_length=10, choices=Author.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField(blank=True)
    source_message_id = models.CharField(max_length=128, null=True, blank=True)
    # Identifies one system message (e.g. "welcome", "nobody_available") so a
    # retried task cannot send it twice.
    system_key = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # What the client's message said before each of their edits in the messenger, oldest first: staff see it.
    earlier_texts = models.JSONField(default=list, blank=True)
    # The client deleted (unsent) the message in the messenger. The row and its text stay for staff, the
    # client's own views no longer show the text (decision 0018).
    deleted_at = models.DateTimeField(null=True, blank=True)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.RECEIVED)
    delivery_error = models.TextField(blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    # How many provider messages of this one (text parts, then files: ``Source.delivery_parts``) went out;
    # a retry after a failure resumes after them, so a client never gets the same file twice.
    delivery_parts_sent = models.PositiveSmallIntegerField(default=0)
    # Issue 21, bounded retries: the sender gives up at ``delivery_deadline`` (set at the first attempt: the retry
    # window, never past Meta's messaging window); ``next_attempt_at`` is when it tries again; ``sending_until``
    # is the lease of the attempt under way, so two runs (a duplicate task, the sweep, the drain) never send at once.
    delivery_deadline = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_until = models.DateTimeField(null=True, blank=True)
    # When the source (or the widget) reported the message delivered and read; read implies delivered.
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # S2: a WhatsApp template message goes out as the template, not as ``text`` (which shows it filled in):
    # {"name", "language", "parameters": [texts]}, copied at sending so an edited template cannot change it.
    template = models.JSONField(null=True, blank=True)
    # A button the client pressed (a Telegram callback button, a Messenger postback or quick reply, a WhatsApp
    # reply button or list row): {"payload": the button's data}; ``text`` is the button's title. None: typed.
    button = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="message_conv_time"),
            # The outbound messages waiting for a connector, in order (the drain after an outage, the sweep).
            models.Index(
                fields=["connector", "id"], condition=Q(delivery="queued"), name="message_queued_by_connector"
            ),
        ]
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
        return f"{self.get_author_kind_display()}: {self.text[:40]}"

    @property
    def delivery_delayed(self) -> bool:
        """Issue 21: still queued after an attempt failed in a way that may pass; the sender keeps trying."""
        return self.delivery == self.Delivery.QUEUED and bool(self.delivery_error)


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
        return gettext("offer of #%(conversation)s to %(operator)s (%(status)s)") % {
            "conversation": self.conversation_id,
            "operator": self.operator,
            "status": self.get_status_display(),
        }


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
    # Who made the change when a person did (an operator closing, a supervisor taking over or reassigning);
    # empty when the client, a chatbot, routing or a sweep did. ``operator`` is the holder after the change.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.from_status or '—'} → {self.to_status}"


class ConversationNote(models.Model):
    """A private note in a conversation, for the operators and supervisors who work it.

    Deliberately not a :class:`Message`: connectors, the widget and the transcript read messages only, so a
    note can never reach the client by any path.
    """

    conversation = models.ForeignKey(Conversation, related_name="notes", on_delete=models.CASCADE)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", null=True, on_delete=models.SET_NULL)
    text = models.TextField(_("note"), max_length=TYPED_TEXT_MAX_LENGTH)
    created_at = models.DateTimeField()
    # The colleagues its ``@name``s named, resolved by the server when it was written (engine.notes).
    mentioned = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)

    class Meta:
        verbose_name = _("private note")
        verbose_name_plural = _("private notes")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_conv_time")]

    def __str__(self) -> str:
        return f"note on #{self.conversation_id}: {self.text[:40]}"

    @property
    def author_name(self) -> str:
        return operator_display_name(self.author) if self.author_id is not None else ""


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
