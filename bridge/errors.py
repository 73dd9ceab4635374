"""The exception tree. Adapters translate these into their own protocol.

BridgeError
├── RequestRejected         the request can never be faxed as it is (user's side, permanent)
│   ├── NumberRefused       unparsable, ambiguous or policy-refused destination
│   ├── SenderRefused       not on the allowlist
│   ├── DocumentRefused     a document that cannot be faxed (type, encryption, corruption)
│   ├── NothingToFax        no document and no cover text
│   └── TooLarge            over RingCentral's size or page limits
├── ProviderError
│   ├── ProviderTransient   try again later (network, 5xx, 429); may_have_sent says if the
│   │                       request could have reached the provider
│   └── ProviderPermanent   the provider refused; retrying will not help
├── StoreUnavailable        the job store could not commit (disk full, read-only, locked)
├── JobNotFound
├── AmbiguousJobId          a shortened job id that fits several jobs, or too short to trust
├── DocumentMissing         a stored document's bytes are gone (purged, lost from the spool)
├── InvalidTransition       a state change the state machine forbids
└── ConfigError             settings that cannot work
"""

from __future__ import annotations


class BridgeError(Exception):
    """Something went wrong in faxbridge."""

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or (self.__class__.__doc__ or self.__class__.__name__).strip()
        super().__init__(self.reason)


class RequestRejected(BridgeError):
    """The request cannot be faxed."""


class NumberRefused(RequestRejected):
    """The fax number cannot be dialled."""


class SenderRefused(RequestRejected):
    """The sender is not allowed to send faxes."""


class DocumentRefused(RequestRejected):
    """A document cannot be faxed."""


class NothingToFax(RequestRejected):
    """There is nothing to fax: no document and no cover text."""


class TooLarge(RequestRejected):
    """The fax is larger than RingCentral accepts."""


class ProviderError(BridgeError):
    """The fax provider did not do what was asked."""


class ProviderTransient(ProviderError):
    """The fax provider is unavailable for now; the request can be tried again."""

    def __init__(
        self, reason: str | None = None, *, retry_after: float | None = None, may_have_sent: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.may_have_sent = may_have_sent


class ProviderPermanent(ProviderError):
    """The fax provider refused the request."""

    def __init__(self, reason: str | None = None, *, code: str | None = None, account: bool = False) -> None:
        super().__init__(reason)
        self.code = code
        # The account or the credentials are at fault (login refused), not this fax: the queue waits.
        self.account = account


class StoreUnavailable(BridgeError):
    """The job store cannot record anything right now."""


class JobNotFound(BridgeError):
    """No such job."""


class AmbiguousJobId(BridgeError):
    """The job id given fits more than one job."""


class DocumentMissing(BridgeError):
    """The bytes of a stored document are no longer kept."""


class InvalidTransition(BridgeError):
    """That state change is not allowed."""


class ConfigError(BridgeError):
    """The configuration cannot work."""


class DeliveryTransient(BridgeError):
    """A destination could not take a received fax just now (an outage, a 429); try again later.

    `retry_after` is the destination's own word on when (Slack's Retry-After), if it gave one.
    """

    def __init__(self, reason: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class DeliveryRefused(BridgeError):
    """A destination refused a received fax for good (no such channel, an address refused): stop trying."""


class ReceivedFaxNotFound(BridgeError):
    """No received fax has this id."""
