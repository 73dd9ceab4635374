"""Which addresses are private and which hosts a setting lists: the rules every download and Slack file obeys."""

from __future__ import annotations

import httpx
import pytest

from adapters.links.refusal import LinkRefused, shown
from adapters.links.routes import Router
from bridge.errors import ConfigError
from bridge.hosts import HostList, is_private
from bridge.settings import Settings


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "fe80::1",
        "100.64.0.1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff0e::1",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
    ],
)
def test_private_addresses(address: str) -> None:
    """Loopback, private, link-local (metadata), shared, multicast, reserved and wrapped IPv4 are all private."""
    assert is_private(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1", "::ffff:8.8.8.8"])
def test_public_addresses(address: str) -> None:
    """Public unicast addresses are not private (else no link could ever be fetched)."""
    assert not is_private(address)


def test_host_list_by_name_means_the_default_port() -> None:
    """`host` allows the scheme's default port only; `host:port` that port only; IPv6 in brackets."""
    hosts = HostList.parse(["Docs.Example.", "127.0.0.1:8443", "[::1]:9000", "fd00::1"])
    assert hosts.allows("docs.example", 443, "https")
    assert hosts.allows("docs.example", 80, "http")
    assert not hosts.allows("docs.example", 8443, "https")
    assert hosts.allows("127.0.0.1", 8443, "https")
    assert not hosts.allows("127.0.0.1", 8444, "https")
    assert not hosts.allows("127.0.0.1", 443, "https")
    assert hosts.allows("[::1]", 9000, "https")
    assert hosts.allows("fd00:0::1", 443, "https")
    assert not HostList.parse([]).allows("docs.example", 443, "https")


@pytest.mark.parametrize(
    "entry", ["host:http", "host:0", "host:70000", "https://host", "user@host", "[::1]x"]
)
def test_unusable_host_entries_are_configuration_errors(entry: str) -> None:
    """An allowlist entry that is not `host` or `host:port` stops the bridge at start, naming the setting."""
    with pytest.raises(ConfigError, match="FAXBRIDGE_FETCH_ALLOWED_HOSTS"):
        Settings.from_mapping({"fetch_allowed_hosts": entry})


def test_settings_read_the_allowlist_and_timeout() -> None:
    """FAXBRIDGE_FETCH_ALLOWED_HOSTS is a comma list; FAXBRIDGE_FETCH_TIMEOUT_SECONDS must be positive."""
    settings = Settings.load({"FAXBRIDGE_FETCH_ALLOWED_HOSTS": "intranet.example, 10.0.0.5:8080"})
    assert settings.fetch_hosts.allows("10.0.0.5", 8080, "http")
    assert settings.fetch_timeout_seconds == 120.0
    with pytest.raises(ConfigError, match="FETCH_TIMEOUT"):
        Settings.load({"FAXBRIDGE_FETCH_TIMEOUT_SECONDS": "0"})


async def _public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


async def test_a_public_host_is_pinned_to_its_one_checked_address() -> None:
    """A public name passes and is pinned to the address it resolved to (nothing is dialled here)."""
    router = Router("https://docs.example/a.pdf", HostList(), _public)
    pin = await router.check(httpx.URL("https://docs.example/a.pdf"))
    assert (pin.host, pin.port, pin.address) == ("docs.example", 443, "93.184.215.14")
    assert router.pins == {("docs.example", 443): "93.184.215.14"}


async def test_every_address_of_a_name_must_be_public() -> None:
    """A name with one public and one private address is refused (mutation: checking only the first)."""

    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "192.168.1.1"]

    router = Router("https://docs.example/a.pdf", HostList(), mixed)
    with pytest.raises(LinkRefused, match="points into a private network"):
        await router.check(httpx.URL("https://docs.example/a.pdf"))


def test_a_refusal_never_repeats_a_query_or_password() -> None:
    """A link is shown without its query (signed links carry keys there) and without user or password."""
    text = shown("https://ann:hunter2@docs.example/a.pdf?X-Signature=s3cr3t")
    assert text == "https://docs.example/a.pdf?…"
    assert "s3cr3t" not in str(
        LinkRefused("https://docs.example/a.pdf?k=s3cr3t", "answered 404", outcome="x")
    )
