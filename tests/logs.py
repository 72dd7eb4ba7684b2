"""What the tests that read the product's log output share: the real ``LOGGING`` of ``LOG_FORMAT=json``, captured."""

from __future__ import annotations

import io
import json
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from contact_center.logs import logging_config


class JsonLines:
    """The lines written by the product's log handler while capturing, each parsed with ``json.loads``."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def all(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines()]

    def of(self, logger: str) -> list[dict]:
        return [line for line in self.all() if line["logger"] == logger]


@contextmanager
def json_log_lines(level: str = "INFO", **logger_levels: str) -> Iterator[JsonLines]:
    """The settings' own logging configuration for ``LOG_FORMAT=json``, its handler writing to a buffer.

    ``logger_levels`` sets loggers' levels as an operator would, e.g. ``httpx="INFO"``.
    """
    stream = io.StringIO()
    config = logging_config(log_format="json", level=level)
    config["handlers"]["console"]["stream"] = stream
    for name, logger_level in logger_levels.items():
        config["loggers"][name] = {"level": logger_level}
    logging.config.dictConfig(config)
    try:
        yield JsonLines(stream)
    finally:
        logging.config.dictConfig(settings.LOGGING)
