"""`faxbridge sandbox receive`: make the built-in stand-in receive a fax, for people trying the demo."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx

from bridge.errors import BridgeError
from bridge.privacy import create_private_file, make_private_dir

# Where a demo-mode `faxbridge serve` notes the address of the stand-in it started.
URL_FILE = "sandbox.url"
# `faxbridge sandbox` alone listens here unless told otherwise.
DEFAULT_URL = "http://127.0.0.1:8090"


def note_url(data_dir: Path, url: str) -> Path:
    """Write the stand-in's address into the data directory, for `faxbridge sandbox receive`."""
    # A PostgreSQL store leaves the data directory to be made here; every file in it is private.
    make_private_dir(data_dir)
    path = data_dir / URL_FILE
    create_private_file(path)
    path.write_text(url + "\n", encoding="utf-8")
    return path


def forget_url(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def standin_url(data_dir: Path, given: str | None) -> str:
    """The stand-in to talk to: the one named, else a demo `serve`'s, else `faxbridge sandbox`'s default."""
    if given:
        return given.rstrip("/")
    with contextlib.suppress(OSError):
        noted = (data_dir / URL_FILE).read_text(encoding="utf-8").strip()
        if noted:
            return noted
    return DEFAULT_URL


def receive(url: str, document: Path, *, sender: str, to: str | None) -> dict[str, Any]:
    """Hand the stand-in a document as a fax arriving from `sender`; return its message-store record."""
    try:
        data = document.read_bytes()
    except OSError as exc:
        raise BridgeError(f"cannot read {document}: {exc.strerror}") from exc
    params = {"from": sender, **({"to": to} if to else {})}
    try:
        answer = httpx.post(f"{url}/_standin/inbound", params=params, content=data, timeout=30.0)
    except httpx.HTTPError as exc:
        raise BridgeError(
            f"cannot reach the stand-in at {url} ({type(exc).__name__}); is `faxbridge serve` running in"
            " demo mode, or `faxbridge sandbox`? Name another with --url"
        ) from exc
    if answer.status_code != 201:
        try:
            reason = answer.json()["message"]
        except (ValueError, KeyError, TypeError):
            reason = f"HTTP {answer.status_code}"
        raise BridgeError(f"the stand-in refused the fax: {reason}")
    record: dict[str, Any] = answer.json()
    return record
