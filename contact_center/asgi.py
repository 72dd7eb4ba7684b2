"""ASGI entry point: HTTP through Django, websockets through Channels."""

import gc
import multiprocessing
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")

from contact_center.processes import die_with_parent

if (supervisor := multiprocessing.parent_process()) is not None:
    # A worker of `uvicorn --workers N`: it dies with its supervisor, even a killed one (decision 0023).
    die_with_parent(parent_pid=supervisor.pid)

from django.core.asgi import get_asgi_application

from contact_center import embedded
from contact_center.startup import load_settings_or_exit

load_settings_or_exit()
django_asgi_app = get_asgi_application()
embedded.start()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from channels_app.connectors.webhooks import webhook_asgi_app  # noqa: E402
from contact_center.body_limit import body_limit_guard  # noqa: E402
from contact_center.errors import websocket_database_guard  # noqa: E402
from contact_center.logs import RequestIdMiddleware  # noqa: E402
from contact_center.routing import websocket_urlpatterns  # noqa: E402

# Outermost: every request and socket, the webhook door included, logs under one request id (contact_center.logs).
application = RequestIdMiddleware(
    ProtocolTypeRouter(
        {
            # Provider webhooks skip Django's middleware stack to answer fast (channels_app.connectors.webhooks).
            # No body over the largest file plus its envelope reaches Django (contact_center.body_limit).
            "http": body_limit_guard(webhook_asgi_app(django_asgi_app)),
            # 503 / close 1013 instead of a 500 when the database is down (contact_center.errors).
            "websocket": websocket_database_guard(
                AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)

# Everything created so far (Django, the apps, the URL and consumer tables) lives as long as the process.
# Freezing it keeps full garbage collections, which stop every thread, from scanning it again: under load at
# 100 messages/s a full collection took 60–130 ms and gave p99 a 300–600 ms tail; frozen, 22–52 ms
# (bench/e2e.py, BENCHMARKS.md).
gc.collect()
gc.freeze()
