"""The Caddy and nginx examples in deploy/ pass POSTs to /slack/events and /ringcentral/webhook to the
bridge and nothing else: run in the real servers when installed, and read as text always."""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers.environment import clean_env
from tests.helpers.ports import free_port
from tests.helpers.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
NGINX_SITE = ROOT / "deploy" / "nginx" / "faxbridge.conf"
NGINX_LOCATIONS = ROOT / "deploy" / "nginx" / "faxbridge-locations.conf"
PUBLIC = {"/slack/events", "/ringcentral/webhook"}

# What must get through, and what must not (the private routes, other methods, look-alikes, and
# paths that only become a public route, or a private one, once dot segments are resolved).
PASSED = [("POST", "/slack/events"), ("POST", "/ringcentral/webhook"), ("POST", "/slack/events?ts=1")]
BLOCKED = [
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("POST", "/metrics"),
    ("GET", "/"),
    ("GET", "/slack/events"),
    ("PUT", "/ringcentral/webhook"),
    ("POST", "/slack/events/extra"),
    ("POST", "/slack/eventsx"),
    ("POST", "/ringcentral/webhook/../../metrics"),
    ("POST", "/slack/events/..%2f..%2fmetrics"),
    ("POST", "/%2e%2e/metrics"),
    ("POST", "//metrics"),
    ("POST", "/SLACK/EVENTS/../../healthz"),
]


class _Recorder(BaseHTTPRequestHandler):
    """The bridge's place: answers 200 to anything and records what reached it."""

    seen: list[tuple[str, str]]

    def _answer(self) -> None:
        self.seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the test reads `seen`


@pytest.fixture
def upstream() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def _status(port: int, method: str, target: str) -> int:
    """One raw HTTP/1.1 request, the target sent byte for byte (no client tidies it up), to the
    host the proxy serves (Caddy answers a request for another host without consulting the site)."""
    body = b"{}" if method in ("POST", "PUT") else b""
    request = (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        head = conn.recv(64)
    return int(head.split()[1])


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _require(binary: str) -> str:
    found = shutil.which(binary) or next(
        (str(p) for p in (Path("/usr/sbin") / binary, Path("/usr/bin") / binary) if p.exists()), None
    )
    if found is None:
        message = f"{binary} is not installed; .ci/run installs it (apt-get install nginx-light caddy)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " - in CI this test must run, not be skipped")
        pytest.skip(message)
    return found


def _check_proxy(port: int, seen: list[tuple[str, str]]) -> None:
    for method, target in PASSED:
        assert _status(port, method, target) == 200, (method, target)
    for method, target in BLOCKED:
        assert _status(port, method, target) in (403, 404, 400), (method, target)
    # The bridge saw only POSTs that are one of its two public routes however it reads the path.
    reached = {(m, posixpath.normpath(unquote(urlsplit(p).path)).lower()) for m, p in seen}
    assert reached == {("POST", route) for route in PUBLIC}, seen


@pytest.mark.proxies
def test_nginx_example_passes_only_the_public_routes(
    tmp_path: Path, upstream: tuple[int, list[tuple[str, str]]]
) -> None:
    """Real nginx with the shipped locations file: the two routes reach the bridge, /healthz,
    /metrics and everything else are refused at the proxy (mutation: a catch-all proxy_pass)."""
    nginx = _require("nginx")
    backend, seen = upstream
    port = free_port()
    temp = tmp_path / "temp"
    temp.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream faxbridge {{ server 127.0.0.1:{backend}; }}
    server {{
        listen 127.0.0.1:{port};
        include {NGINX_LOCATIONS};
    }}
}}
"""
    )
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: process.poll() is None and _accepts(port), 30, "nginx to listen")
        _check_proxy(port, seen)
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.proxies
def test_nginx_site_file_is_valid(tmp_path: Path) -> None:
    """`nginx -t` accepts the shipped site file as an operator installs it, with a certificate in place."""
    nginx = _require("nginx")
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*openssl, "-subj", "/CN=fax.example.com", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    site = (
        NGINX_SITE.read_text()
        .replace("/etc/nginx/snippets/faxbridge-locations.conf", str(NGINX_LOCATIONS))
        .replace("/etc/letsencrypt/live/fax.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/fax.example.com/privkey.pem", str(key))
    )
    (tmp_path / "site.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/site.conf;\n}}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


@pytest.mark.proxies
def test_caddy_example_passes_only_the_public_routes(
    tmp_path: Path, upstream: tuple[int, list[tuple[str, str]]]
) -> None:
    """Real Caddy with the shipped Caddyfile, unchanged, its host and upstream from the environment:
    the two routes reach the bridge, nothing else does (mutation: `reverse_proxy` outside `handle @public`)."""
    caddy = _require("caddy")
    backend, seen = upstream
    port = free_port()
    # Only what a test needs around the shipped file: no admin endpoint, state kept in tmp_path.
    conf = tmp_path / "Caddyfile"
    conf.write_text(f"{{\n\tadmin off\n\tstorage file_system {tmp_path}/data\n}}\n\nimport {CADDYFILE}\n")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "FAXBRIDGE_PUBLIC_HOST": f"http://127.0.0.1:{port}",
        "FAXBRIDGE_UPSTREAM": f"127.0.0.1:{backend}",
    }
    process = subprocess.Popen(
        [caddy, "run", "--adapter", "caddyfile", "--config", str(conf)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: process.poll() is None and _accepts(port), 30, "caddy to listen")
        _check_proxy(port, seen)
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.proxies
def test_caddyfile_as_shipped_adapts(tmp_path: Path) -> None:
    """With no placeholder set, the Caddyfile is valid: fax.example.com proxied to 127.0.0.1:8080."""
    caddy = _require("caddy")
    env = clean_env(HOME=str(tmp_path))
    adapted = subprocess.run(
        [caddy, "adapt", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert adapted.returncode == 0, adapted.stderr
    assert '"fax.example.com"' in adapted.stdout and '"127.0.0.1:8080"' in adapted.stdout


def _nginx_blocks(text: str) -> list[str]:
    return re.findall(r"^\s*location\s+(.+?)\s*\{", text, flags=re.MULTILINE)


def test_the_examples_name_exactly_the_two_routes() -> None:
    """Read as text (no server needed): nginx has exactly the two exact-match proxied locations and
    a 404 for the rest, proxying nowhere else; Caddy proxies only inside `handle @public` with those paths."""
    locations = NGINX_LOCATIONS.read_text()
    assert _nginx_blocks(locations) == ["= /slack/events", "= /ringcentral/webhook", "/"]
    blocks = re.split(r"^location ", locations, flags=re.MULTILINE)[1:]
    proxied = [block.split("{", 1)[0].strip() for block in blocks if "proxy_pass" in block]
    assert proxied == ["= /slack/events", "= /ringcentral/webhook"]
    assert "return 404;" in blocks[-1] and "proxy_pass" not in blocks[-1]
    site = NGINX_SITE.read_text()
    assert _nginx_blocks(site) == [] and "proxy_pass" not in site
    assert site.count("include /etc/nginx/snippets/faxbridge-locations.conf;") == 1

    caddy = CADDYFILE.read_text()
    lines = [line.split("#", 1)[0].strip() for line in caddy.splitlines()]
    assert "path /slack/events /ringcentral/webhook" in lines and "method POST" in lines
    assert sum("reverse_proxy" in line for line in lines) == 1
    public = caddy[caddy.index("handle @public") : caddy.index("handle {")]
    assert "reverse_proxy" in public
    assert "respond 404" in caddy[caddy.index("handle {") :]
