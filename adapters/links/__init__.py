"""Documents by link: a file that lives at a URL, downloaded at intake without opening a door into the network."""

from adapters.links.fetcher import LinkFetcher
from adapters.links.refusal import LinkRefused, is_link

__all__ = ["LinkFetcher", "LinkRefused", "is_link"]
