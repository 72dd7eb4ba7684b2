"""Websocket routes of the supervisor pages (joined to the app's in ``contact_center/asgi.py``)."""

from django.urls import path

from kpi.consumers import WallboardConsumer

websocket_urlpatterns: list = [path("ws/wallboard/", WallboardConsumer.as_asgi())]
