"""Websocket URL routing (Channels). Consumers are added by the console issue."""

websocket_urlpatterns: list = []
