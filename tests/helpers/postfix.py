"""A throwaway private Postfix on loopback: the intake benchmark's baseline and the routing test's MTA.

`postfix -c <dir> start` with its own configuration and queue under one directory, listening on
one loopback port, no DNS. The fax domain goes wherever `transport` says: `discard:` for the
benchmark, `smtp:[127.0.0.1]:PORT` (the bridge) for the test, exactly as deploy/postfix/README.md.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

# The services a relay-only Postfix needs; nothing chrooted, nothing listening beyond loopback.
MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def binary() -> str | None:
    return shutil.which("postfix") or ("/usr/sbin/postfix" if Path("/usr/sbin/postfix").exists() else None)


def routing_lines(fax_domain: str, transport: str) -> dict[str, str]:
    """The two main.cf lines of deploy/postfix/README.md for this domain and transport."""
    return {"relay_domains": fax_domain, "transport_maps": f"inline:{{ {fax_domain}={transport} }}"}


class PrivatePostfix:
    """One private Postfix instance; `start()`, then mail to 127.0.0.1:`listen_port`, then `stop()`."""

    def __init__(
        self, *, fax_domain: str, transport: str, listen_port: int, root: Path | None = None
    ) -> None:
        found = binary()
        if found is None:
            raise RuntimeError("Postfix is not installed (apt-get install postfix)")
        self.binary = found
        # Postfix's own user must reach the queue, so not under a root-only temporary directory.
        self.own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="faxbridge-postfix-", dir="/var/tmp"))
        self.root.chmod(0o755)
        self.config = self.root / "conf"
        self.fax_domain = fax_domain
        self.transport = transport
        self.listen_port = listen_port

    def write_config(self) -> None:
        self.config.mkdir(parents=True)
        (self.root / "queue").mkdir()  # `postfix check` makes the rest with Postfix's own owners
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.root / "queue"),
            "data_directory": str(self.root / "data"),
            "maillog_file": str(self.root / "maillog"),
            "maillog_file_prefixes": str(self.root),
            "myhostname": "postfix-test.localhost",
            "mydomain": "localhost",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "message_size_limit": "57671680",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "biff": "no",
            **routing_lines(self.fax_domain, self.transport),
        }
        (self.config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.config / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{self.listen_port}"))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start(self) -> None:
        self.write_config()
        for step in ("check", "start"):
            done = self.run(step)
            if done.returncode != 0:
                raise RuntimeError(f"postfix {step} failed: {done.stdout}{done.stderr}{self.log()}")

    def stop(self) -> None:
        if self.run("stop").returncode != 0:
            self.run("abort")
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""
