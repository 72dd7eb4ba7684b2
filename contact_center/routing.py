"""Every websocket route of the product: the app's (console, live chat) and the supervisor pages' (wallboard)."""

from channels_app.ws_urls import websocket_urlpatterns as app_websockets
from kpi.ws_urls import websocket_urlpatterns as kpi_websockets

websocket_urlpatterns: list = app_websockets + kpi_websockets
