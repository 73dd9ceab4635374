"""Which hosts are this machine or its private network, and which a setting lists: what may be trusted."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_PORTS = {"https": 443, "http": 80}
# NAT64 gateways turn 64:ff9b::a.b.c.d into a connection to a.b.c.d.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_loopback(host: str) -> bool:
    """Whether `host` (an address, or the name `localhost`) never leaves this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def is_address(host: str) -> bool:
    """Whether `host` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_private(address: str) -> bool:
    """Whether an IP address is anything but a public unicast one.

    Loopback, private (RFC 1918, unique local), link-local (where cloud metadata services answer:
    169.254.169.254, fd00:ec2::254), shared, multicast, reserved and unspecified addresses are all
    private here, and so is an IPv6 address that carries one of them inside it (IPv4-mapped,
    NAT64, 6to4, Teredo).
    """
    ip = ipaddress.ip_address(address.strip("[]"))
    if ip.is_multicast or not ip.is_global:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        inner = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if ip in _NAT64:
            inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return any(v4 is not None and (v4.is_multicast or not v4.is_global) for v4 in inner)
    return False


def _bare(host: str) -> str:
    """A host as it is compared: lower case, no brackets, no trailing dot, addresses in one spelling."""
    host = host.strip().lower().strip("[]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True)
class HostList:
    """Hosts a setting lists, each `host` (its scheme's default port) or `host:port` (`[::1]:8443` for IPv6)."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostList:
        """Read the entries; raise ValueError naming one that is not `host` or `host:port`."""
        return cls(frozenset(_entry(text) for text in entries if text.strip()))

    def allows(self, host: str, port: int, scheme: str) -> bool:
        """Whether `host` on `port` is listed: by name alone on the scheme's default port, else with the port."""
        host = _bare(host)
        if (host, port) in self.entries:
            return True
        return port == DEFAULT_PORTS.get(scheme) and (host, None) in self.entries

    def __bool__(self) -> bool:
        return bool(self.entries)


def _entry(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else None
        if rest and port is None:
            raise ValueError(f"{text!r} is not host or host:port")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None  # a name, an IPv4 address, or a bare IPv6 address
    if not host or any(c in host for c in "/@?# "):
        raise ValueError(f"{text!r} is not host or host:port")
    if port is None:
        return _bare(host), None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} has no usable port")
    return _bare(host), int(port)
