"""The models of the open channels app, one module per aggregate; import them from here.

==================  ===========================================================
``open_channel``    :class:`OpenChannel` (every rule), its queue, working hours
``consent``         A1 consent forms, their versions and records
``canned``          M5 canned replies
``connector``       :class:`Connector` per source account, :class:`InboundUpdate`,
                    :class:`WhatsAppTemplate`
``client``          :class:`Client`, a person writing in through one connector
``conversation``    :class:`Conversation`, messages, offers, routing decisions,
                    status changes, private notes, the client's rating
``operator``        :class:`OperatorProfile`, :class:`LeavePeriod`, display names
``attachment``      :class:`Attachment`, a file of a message (stored or being copied)
``chatbot``         :class:`Chatbot` and its rules
``notification``    :class:`Notification`, kept until its recipient reads it
``audit``           :class:`AuditEvent`, who exported, erased or read personal data
``export``          :class:`DataExport`, a client's or contact's data as one archive
``shared``          durations, languages, generators of secrets
``encryption``      the encrypted field of secrets at rest (connector credentials)
==================  ===========================================================
"""

from channels_app.models.attachment import Attachment, AttachmentKind
from channels_app.models.audit import AuditAction, AuditEvent
from channels_app.models.canned import CannedReply, CannedReplyList
from channels_app.models.chatbot import Chatbot, ChatbotRule
from channels_app.models.client import Client
from channels_app.models.connector import (
    UPDATE_ID_MAX_LENGTH,
    Connector,
    ConnectorKind,
    InboundUpdate,
    Reachability,
    RegistrationState,
    WhatsAppTemplate,
)
from channels_app.models.consent import ConsentForm, ConsentFormVersion, ConsentRecord, ConsentWithdrawnVia
from channels_app.models.conversation import (
    CLOSED_STATUSES,
    MESSAGE_TEXT_MAX_LENGTH,
    OPEN_STATUSES,
    TYPED_TEXT_MAX_LENGTH,
    ClientRating,
    Conversation,
    ConversationNote,
    ConversationQuerySet,
    ConversationStatus,
    Message,
    Offer,
    RoutingDecision,
    StatusChange,
    routable_now,
)
from channels_app.models.export import DataExport
from channels_app.models.notification import NOTIFICATION_TEXT_MAX_LENGTH, Notification
from channels_app.models.open_channel import (
    FORM_DETAILS,
    AutoCloseAction,
    ChatLimitExclusion,
    DistributionMode,
    FormFieldMode,
    Holiday,
    LeadCreation,
    LeadSourceMode,
    NoAnswerAction,
    OpenChannel,
    OperatorIdentity,
    QueueMember,
    WorkingPeriod,
    _timezone_choices,  # referenced by migration 0001
)
from channels_app.models.operator import (
    ROUTING_PRESENCE_FIELDS,
    LeavePeriod,
    OperatorAvailability,
    OperatorProfile,
    compose_display_name,
    operator_display_name,
)
from channels_app.models.shared import ONE_MINUTE, TWELVE_HOURS, Language, new_public_key, new_secret

__all__ = [
    "CLOSED_STATUSES",
    "FORM_DETAILS",
    "MESSAGE_TEXT_MAX_LENGTH",
    "NOTIFICATION_TEXT_MAX_LENGTH",
    "ONE_MINUTE",
    "OPEN_STATUSES",
    "ROUTING_PRESENCE_FIELDS",
    "TWELVE_HOURS",
    "TYPED_TEXT_MAX_LENGTH",
    "UPDATE_ID_MAX_LENGTH",
    "Attachment",
    "AttachmentKind",
    "AuditAction",
    "AuditEvent",
    "AutoCloseAction",
    "CannedReply",
    "CannedReplyList",
    "ChatLimitExclusion",
    "Chatbot",
    "ChatbotRule",
    "Client",
    "ClientRating",
    "Connector",
    "ConnectorKind",
    "ConsentForm",
    "ConsentFormVersion",
    "ConsentRecord",
    "ConsentWithdrawnVia",
    "Conversation",
    "ConversationNote",
    "ConversationQuerySet",
    "ConversationStatus",
    "DataExport",
    "DistributionMode",
    "FormFieldMode",
    "Holiday",
    "InboundUpdate",
    "Language",
    "LeadCreation",
    "LeadSourceMode",
    "LeavePeriod",
    "Message",
    "NoAnswerAction",
    "Notification",
    "Offer",
    "OpenChannel",
    "OperatorAvailability",
    "OperatorIdentity",
    "OperatorProfile",
    "QueueMember",
    "Reachability",
    "RegistrationState",
    "RoutingDecision",
    "StatusChange",
    "WhatsAppTemplate",
    "WorkingPeriod",
    "_timezone_choices",
    "compose_display_name",
    "new_public_key",
    "new_secret",
    "operator_display_name",
    "routable_now",
]
