"""Prometheus metrics: one registry per process, built by the composition root, never at import."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bridge.errors import (
    DocumentRefused,
    NothingToFax,
    NumberRefused,
    RequestRejected,
    SenderRefused,
    StoreUnavailable,
    TooLarge,
)
from bridge.states import JobState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# How a download of a document by link ended: a bounded set, so each is exported from the start.
FETCH_OUTCOMES = (
    "fetched",
    "bad_link",
    "plain_http",
    "private_address",
    "unresolved",
    "unreachable",
    "http_error",
    "too_many_redirects",
    "too_large",
    "timed_out",
    "web_page",
    "not_a_document",
)


def refusal_reason(error: Exception) -> str:
    """A short, bounded label for why an intake was refused (never the free-text reason)."""
    for kind, label in (
        (NumberRefused, "number"),
        (SenderRefused, "sender"),
        (DocumentRefused, "document"),
        (NothingToFax, "nothing_to_fax"),
        (TooLarge, "too_large"),
        (StoreUnavailable, "store_unavailable"),
        (RequestRejected, "other"),
    ):
        if isinstance(error, kind):
            return label
    return "error"


class Metrics:
    """Every metric faxbridge exports, on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Gauge("faxbridge_jobs", "Jobs by state", ["state"], registry=r)
        self.queue_depth = Gauge("faxbridge_queue_depth", "Jobs waiting to be sent (queued)", registry=r)
        self.oldest_queued = Gauge(
            "faxbridge_oldest_queued_age_seconds",
            "Age of the oldest job still waiting to be sent",
            registry=r,
        )
        self.intake = Counter(
            "faxbridge_intake_total",
            "Requests at intake by channel and outcome",
            ["channel", "outcome", "reason"],
            registry=r,
        )
        self.provider_requests = Counter(
            "faxbridge_provider_requests_total",
            "Requests to the fax provider",
            ["operation", "outcome"],
            registry=r,
        )
        self.provider_latency = Histogram(
            "faxbridge_provider_request_seconds",
            "Time the fax provider took to answer",
            ["operation"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.rate_limited = Counter(
            "faxbridge_provider_rate_limited_total", "429 answers from the provider", registry=r
        )
        self.rate_limit_wait = Counter(
            "faxbridge_provider_rate_limit_wait_seconds_total",
            "Seconds spent waiting for the provider's rate limits",
            registry=r,
        )
        self.token_refreshes = Counter(
            "faxbridge_provider_token_refreshes_total", "Access tokens obtained from the provider", registry=r
        )
        self.replies = Counter(
            "faxbridge_replies_total",
            "Status replies by channel and outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.replies_failing = Gauge(
            "faxbridge_replies_failing",
            "Status replies that failed at least once and still wait to go out",
            registry=r,
        )
        self.received = Counter(
            "faxbridge_received_faxes_total", "Received faxes kept, once each", registry=r
        )
        self.received_downloads_failed = Counter(
            "faxbridge_received_download_failures_total",
            "Downloads of received faxes that failed, by whether they will be tried again",
            ["kind"],
            registry=r,
        )
        self.received_deliveries = Counter(
            "faxbridge_received_deliveries_total",
            "Deliveries of received faxes by destination kind and outcome",
            ["destination", "outcome"],
            registry=r,
        )
        # Every label value known up front, so /metrics shows a 0 before the first fax comes.
        for kind in ("transient", "permanent"):
            self.received_downloads_failed.labels(kind=kind)
        for destination in ("slack", "email", "thread_slack", "thread_email"):
            for outcome in ("delivered", "retried", "failed"):
                self.received_deliveries.labels(destination=destination, outcome=outcome)
        self.fetches = Counter(
            "faxbridge_fetches_total", "Documents downloaded from links, by outcome", ["outcome"], registry=r
        )
        for fetch_outcome in FETCH_OUTCOMES:
            self.fetches.labels(outcome=fetch_outcome)
        self.loop_lag = Histogram(
            "faxbridge_event_loop_lag_seconds",
            "How late the event loop ran a timer: time one task kept every other waiting",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )

    def accepted(self, channel: str, count: int = 1) -> None:
        self.intake.labels(channel=channel, outcome="accepted", reason="").inc(count)

    def refused(self, channel: str, error: Exception) -> None:
        self.intake.labels(channel=channel, outcome="refused", reason=refusal_reason(error)).inc()

    def fetched(self, outcome: str) -> None:
        """One download of a document by link ended so (one of FETCH_OUTCOMES)."""
        self.fetches.labels(outcome=outcome).inc()

    def observe_jobs(self, counts: dict[str, int], oldest_queued: datetime | None, now: datetime) -> None:
        for state in JobState:
            self.jobs.labels(state=state.value).set(counts.get(state.value, 0))
        self.queue_depth.set(counts.get(JobState.QUEUED.value, 0))
        self.oldest_queued.set(
            0 if oldest_queued is None else max(0.0, (now - oldest_queued).total_seconds())
        )

    def observe_replies(self, failing: int) -> None:
        self.replies_failing.set(failing)

    def render(self) -> bytes:
        return generate_latest(self.registry)
