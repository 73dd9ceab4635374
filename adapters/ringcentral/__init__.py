"""RingCentral: the Fax API client (auth, multipart send, status, webhook) and the local stand-in."""

from adapters.ringcentral.client import RingCentralProvider
from adapters.ringcentral.webhook import WebhookSubscriber

__all__ = ["RingCentralProvider", "WebhookSubscriber"]
