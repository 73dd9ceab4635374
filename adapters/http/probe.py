"""`python -m adapters.http.probe`: exit 0 when this configuration's `serve` answers /healthz with 200.

The container's HEALTHCHECK: it reads the same settings as `serve` (FAXBRIDGE_HTTP_HOST and
FAXBRIDGE_HTTP_PORT, from the environment or the configuration file), so a port changed in the
environment file is the port probed. Standard library only, so a probe every 30 s stays cheap.
"""

from __future__ import annotations

import ipaddress
import sys
import urllib.error
import urllib.request

from bridge.errors import ConfigError
from bridge.settings import Settings

TIMEOUT_SECONDS = 4.0


def probe_url(host: str, port: int) -> str:
    """The /healthz URL a local probe uses for a listener on `host`:`port`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A name (localhost, the host's own name): ask it as `serve` was told to listen.
        return f"http://{host or '127.0.0.1'}:{port}/healthz"
    if address.is_unspecified:
        # Listening on every address: loopback is one of them.
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}/healthz"


def main() -> int:
    try:
        settings = Settings.load()
    except ConfigError as exc:
        sys.stderr.write(f"faxbridge probe: configuration problem: {exc.reason}\n")
        return 2
    url = probe_url(settings.http_host, settings.http_port)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"faxbridge probe: {url}: {exc}\n")
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
