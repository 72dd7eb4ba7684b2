"""Issue 13: which addresses an external chatbot's URL may reach (pure module ``channels_app.policy.outbound``)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels_app.policy.outbound import address_refusal, host_is_allowed, literal_host_refusal

# One network per class of address that is never called, with the reason given.
REFUSED_NETWORKS = [
    ("0.0.0.0/32", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("127.0.0.0/8", "a loopback address"),
    ("::1/128", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("fc00::/7", "a private address"),
    ("169.254.0.0/16", "a link-local address"),
    ("fe80::/10", "a link-local address"),
    ("224.0.0.0/4", "a multicast address"),
    ("ff00::/8", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("fec0::/10", "a site-local address"),
    ("100.64.0.0/10", "not a public address"),  # carrier-grade NAT
    ("192.0.2.0/24", "a private address"),  # documentation
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2001:4860:4860::8888"]


def addresses_in(network: str) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    net = ipaddress.ip_network(network)
    return st.integers(0, net.num_addresses - 1).map(lambda offset: net.network_address + offset)


@pytest.mark.parametrize(("network", "reason"), REFUSED_NETWORKS)
def test_every_address_of_a_refused_class_is_refused_with_its_reason(network, reason):
    @given(addresses_in(network))
    def check(address):
        assert address_refusal(address) == reason

    check()


@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_an_ipv4_address_and_its_ipv6_forms_get_the_same_answer(address):
    """A dual-stack socket connects to ::ffff:a.b.c.d over IPv4, 6to4 and NAT64 gateways translate to it."""
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80))
    nat64 = ipaddress.IPv6Address(f"64:ff9b::{address}")
    assert address_refusal(mapped) == address_refusal(sixtofour) == address_refusal(nat64) == address_refusal(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_passes(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("[::1]", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("localhost", "a loopback address"),
        ("LOCALHOST.", "a loopback address"),
        ("bot.localhost", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("10.20.30.40", "a private address"),
        ("93.184.215.14", None),
        ("bot.example.com", None),  # a name: judged by its addresses when the event is sent
    ],
)
def test_a_host_is_judged_without_dns(host, reason):
    assert literal_host_refusal(host, []) == reason


def test_a_listed_host_is_allowed_whatever_its_address():
    allowed = ["127.0.0.1", "Bot.Internal", "::1"]
    assert literal_host_refusal("127.0.0.1", allowed) is None
    assert literal_host_refusal("[::1]", allowed) is None
    assert host_is_allowed("bot.internal.", allowed)
    assert not host_is_allowed("other.internal", allowed)
    assert not host_is_allowed("127.0.0.2", allowed)
    assert not host_is_allowed("", ["", "x"])
