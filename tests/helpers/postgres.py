"""A private PostgreSQL server for tests and benchmarks: initdb and pg_ctl into a temporary directory.

No Docker and no shared server: the server listens on a free loopback port only (no Unix socket
outside its own directory), trusts local connections, and is stopped and removed afterwards.
Each test gets a database of its own, copied from an empty template, which is cheap.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BIN_GLOB = "/usr/lib/postgresql/*/bin"


def find_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian's layout, then PATH)."""
    found = sorted(
        (Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One running private server; `url(db)` names a database on it."""

    bin: Path
    root: Path
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql (autocommit); return what it printed."""
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
            ],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its URL."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _as_owner(owner: pwd.struct_passwd | None) -> dict[str, object]:
    # initdb refuses to run as root: a root test run starts the server as the `postgres` account.
    if owner is None:
        return {}
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def running_postgres(bin_dir: Path | None = None) -> Iterator[PostgresServer]:
    """Start a private server in a temporary directory; stop it and remove everything afterwards."""
    bin_dir = bin_dir or find_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            owner = pwd.getpwnam("nobody")
    root = Path(tempfile.mkdtemp(prefix="faxbridge-pg-"))
    data = root / "data"
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    run = _as_owner(owner)
    user = "faxbridge"
    port = _free_port()
    log = root / "server.log"
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
            **run,  # type: ignore[arg-type]
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
            " -c max_connections=200 -c fsync=on -c synchronous_commit=on"
        )
        subprocess.run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
            **run,  # type: ignore[arg-type]
        )
        try:
            yield PostgresServer(bin=bin_dir, root=root, port=port, user=user)
        finally:
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
                **run,  # type: ignore[arg-type]
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
