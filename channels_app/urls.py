"""HTTP routes of the channels app: provider webhooks, the console, the live chat and the bot API."""

from django.urls import URLPattern, path

from channels_app.bots import api as bot_api
from channels_app.connectors import webhooks
from channels_app.console import api as console_api
from channels_app.console import consent as console_consent
from channels_app.console import files as console_files
from channels_app.console import history as console_history
from channels_app.console import i18n as console_i18n
from channels_app.console import notifications as console_notifications
from channels_app.console import views as console_views
from channels_app.livechat import api as livechat_api
from channels_app.livechat import views as livechat_views
from channels_app.privacy import audit as privacy_audit
from channels_app.privacy import erasure as privacy_erasure
from channels_app.privacy import exports as privacy_exports

# One per provider (telegram, meta, zalo); the ASGI door in front of Django answers the same paths.
webhook_urls = [
    path(f"webhooks/{provider}/<int:connector_id>/", webhooks.django_view(provider), name=f"webhook-{provider}")
    for provider in webhooks.KINDS_BY_PROVIDER
]

console_urls = [
    path("console/", console_views.console, name="console"),
    path("console/login/", console_views.ConsoleLoginView.as_view(), name="console-login"),
    path("console/logout/", console_views.console_logout, name="console-logout"),
    # The console speaks the operator's own language (OperatorProfile.language), not the browser's.
    path("console/jsi18n/", console_i18n.console_javascript_catalog, name="console-jsi18n"),
    path("console/language/", console_i18n.console_language_view, name="console-language"),
    # Every file of a conversation, for the console, the admin, the KPI pages and (signed) the widget.
    path("files/<uuid:public_id>/", console_files.attachment_file, name="attachment-file"),
    path("files/<uuid:public_id>/thumbnail/", console_files.attachment_thumbnail, name="attachment-thumbnail"),
    path("api/console/state/", console_api.ConsoleStateView.as_view(), name="api-console-state"),
    path("api/console/status/", console_api.ConsoleStatusView.as_view(), name="api-console-status"),
    path(
        "api/console/conversations/",
        console_api.ConsoleConversationsView.as_view(),
        name="api-console-conversations",
    ),
    path(
        "api/conversations/<int:conversation_id>/",
        console_api.ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "api/conversations/<int:conversation_id>/messages/",
        console_api.ConversationMessagesView.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "api/conversations/<int:conversation_id>/files/",
        console_api.ConversationFilesView.as_view(),
        name="api-conversation-files",
    ),
    path(
        "api/conversations/<int:conversation_id>/transfer-targets/",
        console_api.ConversationTransferTargetsView.as_view(),
        name="api-conversation-transfer-targets",
    ),
    path(
        "api/conversations/<int:conversation_id>/lead/",
        console_api.ConversationLeadView.as_view(),
        name="api-conversation-lead",
    ),
    # History and search (issue 15): the conversations the viewer may see, and a client's timeline.
    path("api/console/history/", console_history.HistoryView.as_view(), name="api-console-history"),
    path(
        "api/console/history/filters/",
        console_history.HistoryFiltersView.as_view(),
        name="api-console-history-filters",
    ),
    path(
        "api/conversations/<int:conversation_id>/timeline/",
        console_history.ConversationTimelineView.as_view(),
        name="api-conversation-timeline",
    ),
    path(
        "api/conversations/<int:conversation_id>/notes/",
        console_notifications.ConversationNotesView.as_view(),
        name="api-conversation-notes",
    ),
    path(
        "api/conversations/<int:conversation_id>/mention-candidates/",
        console_notifications.MentionCandidatesView.as_view(),
        name="api-conversation-mention-candidates",
    ),
    path(
        "api/conversations/<int:conversation_id>/consent-withdrawal/",
        console_consent.ConversationConsentWithdrawView.as_view(),
        name="api-conversation-consent-withdraw",
    ),
    path("api/notifications/", console_notifications.NotificationsView.as_view(), name="api-notifications"),
    path(
        "api/notifications/read-all/",
        console_notifications.NotificationsReadAllView.as_view(),
        name="api-notifications-read-all",
    ),
    path(
        "api/notifications/<int:notification_id>/read/",
        console_notifications.NotificationReadView.as_view(),
        name="api-notification-read",
    ),
]

livechat_urls = [
    path("livechat/frame/<str:public_key>/", livechat_views.livechat_frame, name="livechat-frame"),
    path("livechat/demo/<str:public_key>/", livechat_views.livechat_demo, name="livechat-demo"),
    path("consent/<int:version_id>/", livechat_views.consent_form_version, name="consent-form-version"),
    # The link mailed to an address a visitor typed (C1, C2): GET shows it, POST confirms it.
    path(
        "livechat/confirm-email/<str:token>/",
        livechat_views.livechat_email_confirm_page,
        name="livechat-email-confirm",
    ),
    path("api/livechat/<str:token>/", livechat_api.LivechatStateView.as_view(), name="api-livechat-state"),
    path(
        "api/livechat/<str:token>/transcript/",
        livechat_api.LivechatTranscriptView.as_view(),
        name="api-livechat-transcript",
    ),
    path("api/livechat/<str:token>/files/", livechat_api.LivechatFileView.as_view(), name="api-livechat-files"),
    path("api/livechat/<str:token>/details/", livechat_api.LivechatDetailsView.as_view(), name="api-livechat-details"),
    path("api/livechat/<str:token>/offline/", livechat_api.LivechatOfflineView.as_view(), name="api-livechat-offline"),
    path(
        "api/livechat/<str:token>/consent/withdraw/",
        livechat_api.LivechatConsentWithdrawView.as_view(),
        name="api-livechat-consent-withdraw",
    ),
]

bot_urls = [
    path(
        "api/bots/conversations/<int:conversation_id>/messages/",
        bot_api.BotConversationMessagesView.as_view(),
        name="bot-api-messages",
    ),
    path(
        "api/bots/conversations/<int:conversation_id>/handover/",
        bot_api.BotConversationHandoverView.as_view(),
        name="bot-api-handover",
    ),
]

# Administrators only (issue 19): data export, erasure, the audit log.
privacy_urls: list[URLPattern] = []
privacy_urls += [
    path("api/privacy/exports/", privacy_exports.ExportsView.as_view(), name="api-privacy-exports"),
    path(
        "api/privacy/exports/<uuid:public_id>/", privacy_exports.ExportDetailView.as_view(), name="api-privacy-export"
    ),
    path("privacy/exports/<uuid:public_id>/download/", privacy_exports.export_download, name="privacy-export-download"),
    path(
        "api/privacy/clients/<int:client_id>/erase/",
        privacy_erasure.ClientEraseView.as_view(),
        name="api-privacy-client-erase",
    ),
    path(
        "api/privacy/contacts/<int:contact_id>/erase/",
        privacy_erasure.ContactEraseView.as_view(),
        name="api-privacy-contact-erase",
    ),
]
privacy_urls.append(path("api/privacy/audit/", privacy_audit.AuditLogView.as_view(), name="api-privacy-audit"))

urlpatterns = webhook_urls + console_urls + livechat_urls + bot_urls + privacy_urls
