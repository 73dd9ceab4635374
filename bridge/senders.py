"""Who may send faxes by email: exact addresses and @domain entries, compared in normalised form."""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email


def normalise_address(address: str) -> str | None:
    """The canonical form of an address (domain lower-cased, IDNA-aware), or None if it is not one."""
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return f"{result.local_part}@{result.ascii_domain.lower()}".lower()


class SenderPolicy:
    """An allowlist of senders. Empty, it allows everyone only when `open_when_empty` (demo mode)."""

    def __init__(self, entries: Iterable[str], *, open_when_empty: bool = True) -> None:
        self.open_when_empty = open_when_empty
        self.addresses: set[str] = set()
        self.domains: set[str] = set()
        for entry in (e.strip() for e in entries):
            if entry.startswith("@"):
                self.domains.add(entry[1:].lower().rstrip("."))
            elif entry:
                self.addresses.add(normalise_address(entry) or entry.lower())

    @property
    def empty(self) -> bool:
        return not (self.addresses or self.domains)

    def allows(self, address: str) -> bool:
        if self.empty:
            return self.open_when_empty
        normal = normalise_address(address)
        if normal is None:
            return False
        domain = normal.rsplit("@", 1)[1]
        return normal in self.addresses or domain in self.domains
