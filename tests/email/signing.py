"""DKIM for tests: an RSA key made with the openssl command, dkimpy signing, and a DNS table to look keys up in."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from dkim import dknewkey

from adapters.email.sender_auth import DnsTemporaryFailure

SELECTOR = "s2026"
SIGNED_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")


@dataclass(frozen=True)
class DkimKey:
    """A private key in PEM and the TXT record that publishes its public half."""

    private_pem: bytes
    record: bytes


def make_key(directory: Path) -> DkimKey:
    """A fresh RSA key, made and exported by dkimpy's key tool (which runs openssl)."""
    assert shutil.which("openssl") is not None, "the openssl command is needed to make a test DKIM key"
    private, public = directory / "dkim.pem", directory / "dkim.txt"
    dknewkey.GenRSAKeys(str(private), verbose=False)
    dknewkey.ExtractRSADnsPublicKey(str(private), str(public), verbose=False)
    return DkimKey(private_pem=private.read_bytes(), record=public.read_bytes())


def sign(
    raw: bytes,
    key: DkimKey,
    domain: str = "example.com",
    *,
    selector: str = SELECTOR,
    headers: Sequence[str] = SIGNED_HEADERS,
    length: bool = False,
    algorithm: str = "rsa-sha256",
) -> bytes:
    """The mail with a DKIM-Signature of `domain` on top, as the sender's server would add it."""
    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        key.private_pem,
        include_headers=[h.encode() for h in headers],
        length=length,
        signature_algorithm=algorithm.encode(),
    )
    return bytes(signature) + raw


def key_name(domain: str = "example.com", selector: str = SELECTOR) -> str:
    return f"{selector}._domainkey.{domain}"


@dataclass
class KeyTable:
    """An injected DNS: TXT records by name, names whose lookup fails for now, and what was asked."""

    records: dict[str, bytes] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def __call__(self, name: str) -> bytes | None:
        self.asked.append(name)
        if name in self.failing:
            raise DnsTemporaryFailure("LifetimeTimeout")
        return self.records.get(name)

    def publish(self, key: DkimKey, domain: str = "example.com", selector: str = SELECTOR) -> KeyTable:
        self.records[key_name(domain, selector)] = key.record
        return self
