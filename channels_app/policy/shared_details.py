"""A phone number or e-mail a client typed in a message (issue 15, point 9). Pure: no Django, no clock, no I/O.

Conservative on purpose: a false find would put a stranger's address on a client. An e-mail is found when the
message holds exactly one address (the same one written twice counts once); a phone only when the message is
essentially the number itself ("+48 600 100 200", "(028) 3823-4567", "tel: 600100200"), never digits inside a
sentence (an order number, a price), and never with dots between the digits (a date, "12.05.2026").
"""

from __future__ import annotations

import re

MAX_EMAIL_LENGTH = 254
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15  # E.164
MAX_PHONE_LENGTH = 40  # Client.phone, Contact.phone, Lead.phone

_EMAIL = re.compile(
    r"(?<![\w.%+@-])"
    r"([A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})"
    r"(?![\w@-]|\.[A-Za-z0-9])"
)
# A few words people put before a number they send on its own; then only digits and the usual separators.
_PHONE = re.compile(
    r"(?:(?:tel|phone|mobile|telefon|tel\.|nr|số|sdt|sđt)\s*[:.]?\s*)?(\+?\(?[0-9][0-9 ()/-]*[0-9])[.!]?",
    re.IGNORECASE,
)


def typed_email(text: str) -> str:
    """The one e-mail address in ``text`` (lower-cased domain kept as typed), or "" when there is none or several."""
    found: dict[str, str] = {match.lower(): match for match in _EMAIL.findall(text or "")}
    if len(found) != 1:
        return ""
    (address,) = found.values()
    if ".." in address or len(address) > MAX_EMAIL_LENGTH:
        return ""
    return address


def typed_phone(text: str) -> str:
    """The phone number ``text`` consists of, as typed (spaces collapsed), or "" when the text is anything else."""
    match = _PHONE.fullmatch((text or "").strip())
    if match is None:
        return ""
    number = " ".join(match.group(1).split())
    digits = re.sub(r"\D", "", number)
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS or len(number) > MAX_PHONE_LENGTH:
        return ""
    if number.count("+") > 1 or ("(" in number and ")" not in number):
        return ""
    return number
