"""Websocket URL routing (Channels): the operator console and the website live chat."""

from django.urls import path

from channels_app.console.consumer import ConsoleConsumer
from channels_app.livechat.consumer import LivechatConsumer

websocket_urlpatterns: list = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
    path("ws/livechat/<str:token>/", LivechatConsumer.as_asgi()),
]
