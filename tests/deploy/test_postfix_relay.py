"""The reply relay deploy/postfix/README.md suggests is one `faxbridge check` accepts, against a real Postfix."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.executable import faxbridge, operator_env
from tests.helpers.ports import free_port
from tests.helpers.postfix import PrivatePostfix, binary

pytestmark = pytest.mark.postfix

README = Path(__file__).resolve().parents[2] / "deploy" / "postfix" / "README.md"


def _suggested() -> dict[str, str]:
    """The FAXBRIDGE_SMTP_RELAY_* lines of the README's relay section, as written."""
    section = README.read_text().split("## 4. Status mails back through this Postfix", 1)[1]
    return dict(re.findall(r"^(FAXBRIDGE_SMTP_RELAY_[A-Z_]+)=(\S+)$", section, flags=re.M))


@pytest.fixture
def postfix() -> Iterator[PrivatePostfix]:
    if binary() is None or os.geteuid() != 0:
        message = "a private Postfix needs the postfix binary and root; .ci/run installs it"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " - in CI this test must run, not be skipped")
        pytest.skip(message)
    running = PrivatePostfix(fax_domain="fax.example.com", transport="discard:", listen_port=free_port())
    running.start()
    yield running
    running.stop()


def test_readme_names_host_and_port_apart() -> None:
    """The README sets the relay's host and port as two settings, the host without a port in it
    (mutation: the old `127.0.0.1:25` as one value, which check cannot reach)."""
    assert _suggested() == {"FAXBRIDGE_SMTP_RELAY_HOST": "127.0.0.1", "FAXBRIDGE_SMTP_RELAY_PORT": "25"}


def test_check_accepts_the_suggested_relay(tmp_path: Path, postfix: PrivatePostfix) -> None:
    """`faxbridge check` with the README's lines (its port moved to this Postfix's) reports the relay
    working and exits 0."""
    settings = {**_suggested(), "FAXBRIDGE_SMTP_RELAY_PORT": str(postfix.listen_port)}
    done = faxbridge(operator_env(tmp_path / "var", **settings), "check")
    relay = [line for line in done.stdout.splitlines() if "reply relay" in line]
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(f"127.0.0.1:{postfix.listen_port} answers EHLO" in line for line in relay), relay
    assert all(line.startswith("[ok") for line in relay), relay
