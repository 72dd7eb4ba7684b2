"""S1: the copy-paste ``<script>`` tag that puts a live-chat connector's chat on any website."""

from __future__ import annotations

from html import escape

from django.conf import settings

from channels_app.models import Connector


def livechat_snippet(connector: Connector, *, base_url: str | None = None) -> str:
    """The copy-paste ``<script>`` tag that puts this connector's chat on any website.

    ``base_url`` defaults to ``settings.SITE_URL``; the demo page passes the
    address the browser used, so the demo works behind any host name.
    """
    base = (base_url or settings.SITE_URL).rstrip("/")
    return (
        f"<!-- Open Channels live chat: {escape(connector.open_channel.name)} -->\n"
        f'<script async src="{escape(base)}/static/livechat/widget.js" '
        f'data-open-channels-key="{escape(connector.public_key)}"></script>'
    )
