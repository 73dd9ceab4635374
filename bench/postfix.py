"""A private Postfix on loopback that accepts the fax domain into its queue and discards it (intake baseline)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import FAX_DOMAIN, free_port

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


class PrivatePostfix:
    """`postfix -c <dir> start` with its own configuration and queue; the fax domain goes to `discard:`."""

    def __init__(self) -> None:
        found = binary()
        if found is None:
            raise RuntimeError("Postfix is not installed (apt-get install postfix)")
        self.binary = found
        # Postfix's own user must reach the queue, so not under a root-only temporary directory.
        self.root = Path(tempfile.mkdtemp(prefix="faxbridge-bench-postfix-", dir="/var/tmp"))
        self.root.chmod(0o755)
        self.port = free_port()

    def start(self) -> None:
        config = self.root / "conf"
        config.mkdir()
        (self.root / "queue").mkdir()
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.root / "queue"),
            "data_directory": str(self.root / "data"),
            "maillog_file": str(self.root / "maillog"),
            "maillog_file_prefixes": str(self.root),
            "myhostname": "postfix-bench.localhost",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "relay_domains": FAX_DOMAIN,
            "transport_maps": f"inline:{{ {FAX_DOMAIN}=discard: }}",
            "message_size_limit": "57671680",
            "smtp_dns_support_level": "disabled",
            "smtpd_tls_security_level": "none",
            "biff": "no",
        }
        (config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (config / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))
        for step in ("check", "start"):
            done = subprocess.run(
                [self.binary, "-c", str(config), step], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"postfix {step} failed: {done.stdout}{done.stderr}")

    def stop(self) -> None:
        subprocess.run([self.binary, "-c", str(self.root / "conf"), "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
