"""HTTP routes of the channels app: provider webhooks, the console, the live chat and the bot API."""

from django.urls import path

from channels_app import api, bot_api, views, webhooks

webhook_urls = [
    path("webhooks/telegram/<int:connector_id>/", webhooks.telegram_webhook, name="webhook-telegram"),
    path("webhooks/meta/<int:connector_id>/", webhooks.meta_webhook, name="webhook-meta"),
    path("webhooks/zalo/<int:connector_id>/", webhooks.zalo_webhook, name="webhook-zalo"),
]

console_urls = [
    path("console/", views.console, name="console"),
    path("console/login/", views.ConsoleLoginView.as_view(), name="console-login"),
    path("console/logout/", views.console_logout, name="console-logout"),
    path("api/console/state/", api.ConsoleStateView.as_view(), name="api-console-state"),
    path("api/console/status/", api.ConsoleStatusView.as_view(), name="api-console-status"),
    path("api/console/conversations/", api.ConsoleConversationsView.as_view(), name="api-console-conversations"),
    path("api/conversations/<int:conversation_id>/", api.ConversationDetailView.as_view(), name="api-conversation"),
    path(
        "api/conversations/<int:conversation_id>/messages/",
        api.ConversationMessagesView.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "api/conversations/<int:conversation_id>/transfer-targets/",
        api.ConversationTransferTargetsView.as_view(),
        name="api-conversation-transfer-targets",
    ),
    path(
        "api/conversations/<int:conversation_id>/lead/",
        api.ConversationLeadView.as_view(),
        name="api-conversation-lead",
    ),
]

livechat_urls = [
    path("livechat/frame/<str:public_key>/", views.livechat_frame, name="livechat-frame"),
    path("livechat/demo/<str:public_key>/", views.livechat_demo, name="livechat-demo"),
    path("api/livechat/<str:token>/", api.LivechatStateView.as_view(), name="api-livechat-state"),
    path("api/livechat/<str:token>/transcript/", api.LivechatTranscriptView.as_view(), name="api-livechat-transcript"),
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

urlpatterns = webhook_urls + console_urls + livechat_urls + bot_urls
