"""S2: WhatsApp message templates, the only messages a business may send once the 24-hour window has closed.

A template is approved by Meta under a name and a language; its body holds
numbered placeholders ``{{1}}``, ``{{2}}``… that the sender fills, in order,
with one text each (the Cloud API's body component parameters). Here we keep
a copy of the body only to show the operator and the transcript what the
client receives; WhatsApp renders the message from its own approved copy.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
# WhatsApp refuses a parameter text longer than this (and one with a new line or tab, or four spaces in a row).
PARAMETER_MAX_LENGTH = 1024


def parameter_count(body: str) -> int:
    """How many parameters the body asks for: its highest placeholder number (``{{1}}`` … ``{{n}}``)."""
    return max((int(number) for number in PLACEHOLDER.findall(body)), default=0)


def parameter_problem(text: str) -> str:
    """Why WhatsApp would refuse this parameter text: "empty", "too_long", "layout", or "" when it takes it."""
    if not text.strip():
        return "empty"
    if len(text) > PARAMETER_MAX_LENGTH:
        return "too_long"
    if "\n" in text or "\t" in text or "    " in text:
        return "layout"
    return ""


def filled_body(body: str, parameters: list[str]) -> str:
    """The body as the client reads it: each ``{{n}}`` replaced by the n-th parameter (counted from 1)."""
    return PLACEHOLDER.sub(lambda match: parameters[int(match.group(1)) - 1], body)
