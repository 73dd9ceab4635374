"""The addresses `serve` listens on, tried before anything starts: a port in use is one line naming its setting."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.settings import Settings


class PortUnavailable(ConfigError):
    """A port `serve` must listen on cannot be had."""


@dataclass(frozen=True)
class Listener:
    """One address a command listens on, and the setting (or option) that names each half of it."""

    name: str  # what listens: SMTP, HTTP
    host: str
    port: int
    host_setting: str
    port_setting: str

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else (self.host or "*")
        return f"{host}:{self.port}"


def listeners(settings: Settings) -> list[Listener]:
    return [
        Listener(
            "SMTP", settings.smtp_host, settings.smtp_port, "FAXBRIDGE_SMTP_HOST", "FAXBRIDGE_SMTP_PORT"
        ),
        Listener(
            "HTTP", settings.http_host, settings.http_port, "FAXBRIDGE_HTTP_HOST", "FAXBRIDGE_HTTP_PORT"
        ),
    ]


def listener(settings: Settings, name: str) -> Listener:
    """The SMTP or HTTP listener of these settings."""
    (found,) = [x for x in listeners(settings) if x.name == name]
    return found


def why_unavailable(listener: Listener, exc: OSError) -> str:
    """One line naming the setting to change, for an address that could not be bound."""
    port, host = listener.port_setting, listener.host_setting
    if exc.errno == errno.EADDRINUSE:
        return f"{port}: {listener.where} is in use"
    if exc.errno == errno.EACCES:
        return (
            f"{port}: {listener.where} needs privileges (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host}: {listener.host} is not an address of this machine"
    return f"{port}: cannot listen on {listener.where}: {exc.strerror or exc}"


def bind_problems(settings: Settings) -> list[str]:
    """Bind (and at once release) every address `serve` would listen on; one line per one that fails."""
    found = listeners(settings)
    problems = []
    first, second = found
    if first.port == second.port and first.port and _overlap(first.host, second.host):
        problems.append(f"{second.port_setting}: {second.port} is {first.port_setting} as well")
    for listener in found:
        problem = bind_problem(listener)
        if problem:
            problems.append(problem)
    return problems


def _overlap(a: str, b: str) -> bool:
    anywhere = ("", "0.0.0.0", "::")
    return a == b or a in anywhere or b in anywhere


def bind_problem(listener: Listener) -> str | None:
    """Bind (and release) one listener's address; why it cannot be had, or None."""
    try:
        addresses = socket.getaddrinfo(
            listener.host or None, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return f"{listener.host_setting}: {listener.host} cannot be resolved: {exc.strerror}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            # As asyncio's servers bind: a port some closed connection still waits on is no conflict.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return why_unavailable(listener, exc)
    return None
