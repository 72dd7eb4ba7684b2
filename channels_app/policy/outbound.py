"""Which addresses the product may call on an administrator's say-so (issue 13): public ones only.

An external chatbot's URL is typed in the admin, and the product POSTs every client message to it from inside
the network it runs in. Pointed at this machine (loopback), the local network (private), the cloud's metadata
service (link-local ``169.254.169.254``) or any other address that is not public, the product would become a way
into places the administrator could not reach: so those are refused, unless the URL's host is listed in
``CHATBOT_ALLOWED_HOSTS`` (a bot that really runs beside the product).

Pure: the caller resolves names (:mod:`channels_app.bots.outbound`) and passes the addresses in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 addresses that stand for an IPv4 one: its IPv4-mapped form (::ffff:a.b.c.d, which a dual-stack socket
# connects to over IPv4), 6to4 (2002::/16) and the NAT64 well-known prefix (64:ff9b::/96, RFC 6052), which the
# network translates to the IPv4 address in the last 32 bits.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")

# Why an address is refused, most specific first; "not public" catches the rest (shared 100.64/10, documentation
# and benchmarking ranges, 6to4 relays...): everything Python's ipaddress does not count as global.
REFUSALS: tuple[tuple[str, str], ...] = (
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_reserved", "a reserved address"),
    ("is_private", "a private address"),
    ("is_site_local", "a site-local address"),  # IPv6's deprecated fec0::/10, which Python counts as global
)
NOT_PUBLIC = "not a public address"
LOOPBACK_NAMES = ("localhost",)  # RFC 6761: "localhost" and every name under it are this machine


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be called ("a private address"…), or ``None`` for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return address_refusal(embedded)
    for attribute, reason in REFUSALS:
        if getattr(address, attribute, False):  # is_site_local is IPv6's only
            return reason
    return None if address.is_global else NOT_PUBLIC


def normalized_host(host: str) -> str:
    """A URL's host as compared with the allowed list: lower case, no IPv6 brackets, no trailing dot."""
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


def host_is_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """``host`` is listed in ``CHATBOT_ALLOWED_HOSTS`` (exactly, as written in the URL)."""
    wanted = normalized_host(host)
    return bool(wanted) and any(wanted == normalized_host(allowed) for allowed in allowed_hosts)


def literal_host_refusal(host: str, allowed_hosts: Iterable[str]) -> str | None:
    """Why a URL's host may not be called, judged without DNS: an address written as such, or a loopback name.

    Any other name is ``None`` here; the addresses it resolves to are judged when the request is sent.
    """
    if host_is_allowed(host, allowed_hosts):
        return None
    name = normalized_host(host)
    if any(name == loopback or name.endswith("." + loopback) for loopback in LOOPBACK_NAMES):
        return "a loopback address"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    return address_refusal(address)
