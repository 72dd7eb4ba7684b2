"""Where an external bot's events may go (issue 13): only to public addresses, checked at the moment of sending.

The bot's URL was checked when the chatbot was saved, but a name can resolve to another address today, or to
another address on the second lookup than on the first (DNS rebinding: a public answer for the check, a private
one for the connection). So :func:`checked_destination`, before every event:

1. parses the URL (``http`` or ``https`` only);
2. lets a host listed in ``CHATBOT_ALLOWED_HOSTS`` through as it is;
3. resolves the host once and refuses if *any* of its addresses is not public
   (:func:`channels_app.policy.outbound.address_refusal`);
4. pins the request to the first checked address: the URL names the address, the ``Host`` header and the TLS
   server name (SNI, and the certificate check) keep the original host, so nothing resolves the name again.

The client never follows redirects (a ``3xx`` answer is a failed turn), so no request leaves for an address that
was not checked. A refusal is a :class:`~channels_app.bots.base.BotFailure`: the turn fails and the conversation is
handed over to the operators with the reason.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

import httpx

from channels_app.bots.base import BotFailure
from channels_app.policy.outbound import address_refusal, host_is_allowed, literal_host_refusal

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Destination:
    """What to send the request to: ``url`` (its host a checked address), plus the headers and the httpx request
    extensions that keep the original host for HTTP and TLS."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection (an address written as such resolves to itself)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise BotFailure(f"could not resolve the bot's host {host}") from None
    addresses: list[str] = []
    for *_, sockaddr in answers:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise BotFailure(f"could not resolve the bot's host {host}")
    return addresses


def checked_destination(url: str, *, allowed_hosts: list[str]) -> Destination:
    """The request target for ``url``, pinned to a checked address; :class:`BotFailure` when it may not be called."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise BotFailure("the bot URL is not a valid URL") from None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        raise BotFailure("the bot URL must start with http:// or https://")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS and the TLS server name use
    if host_is_allowed(host, allowed_hosts) or host_is_allowed(parsed.host, allowed_hosts):
        return Destination(url=parsed)
    refusal = literal_host_refusal(host, allowed_hosts)
    if refusal:
        raise BotFailure(f"refused to call {host} ({refusal})")
    addresses = resolve(host, parsed.port or DEFAULT_PORTS[parsed.scheme])
    for address in addresses:
        refusal = address_refusal(ipaddress.ip_address(address))
        if refusal:
            raise BotFailure(f"refused to call {host}: it resolves to {address} ({refusal})")
    pinned = addresses[0].split("%", 1)[0]  # a scope id (fe80::1%eth0) is never public, so never reaches here
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Destination(
        url=parsed.copy_with(host=pinned), headers={"Host": parsed.netloc.decode("ascii")}, extensions=extensions
    )
