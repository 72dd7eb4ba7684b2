"""Which :class:`~channels_app.connectors.base.Source` serves which connector kind."""

from __future__ import annotations

from channels_app.connectors.base import Source
from channels_app.connectors.meta import MessengerSource, WhatsAppSource
from channels_app.connectors.telegram import TelegramSource
from channels_app.connectors.zalo import ZaloSource

SOURCES: dict[str, Source] = {}
for _source in (TelegramSource(), MessengerSource(), WhatsAppSource(), ZaloSource()):
    for _kind in _source.kinds:
        SOURCES[str(_kind)] = _source

# Kinds whose outbound messages leave through a provider API (live chat is delivered over the widget's socket).
MESSENGER_KINDS: tuple[str, ...] = tuple(SOURCES)


def get_source(kind: str) -> Source | None:
    return SOURCES.get(str(kind))


def source_for(kind: str) -> Source:
    """The source serving a messenger connector kind; ``KeyError`` for live chat, which has none."""
    return SOURCES[str(kind)]
