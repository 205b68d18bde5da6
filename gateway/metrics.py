"""Prometheus metrics, one registry for the process (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter(
    "gateway_deliveries_total", "Delivery state transitions made by dispatch",
    ["state", "platform", "priority"], registry=REGISTRY,
)
PUBLISH_SECONDS = Histogram(
    "gateway_publish_seconds", "Time of one adapter publish call", ["platform"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EMERGENCY_SECONDS = Histogram(
    "gateway_emergency_delivery_seconds", "Emergency delivery: planned to sent", registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMIT_PAUSES = Counter(
    "gateway_rate_limit_pauses_total", "Accounts paused for a platform rate limit", ["platform"],
    registry=REGISTRY,
)
CHECK_VERDICTS = Counter(
    "gateway_check_verdicts_total", "Outbound check verdicts at intake", ["verdict"], registry=REGISTRY,
)
CHECK_SECONDS = Histogram(
    "gateway_check_seconds", "Time of one message's checks in a check worker, by lane", ["lane"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
CHECK_OVERRUNS = Counter(
    "gateway_check_overruns_total", "Messages whose checks exceeded the time budget (worker replaced)", ["lane"],
    registry=REGISTRY,
)
CHECK_WORKERS = Gauge(
    "gateway_check_workers", "Check worker processes ready, by lane", ["lane"], registry=REGISTRY,
)
CHECK_WORKER_RESTARTS = Counter(
    "gateway_check_worker_restarts_total", "Check workers replaced (budget exceeded, died, abandoned)", ["lane"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "gateway_queue_depth", "Deliveries not yet final, by state", ["state"], registry=REGISTRY,
)
HIJACK_ALERTS = Counter(
    "gateway_hijack_alerts_total", "Posts found on an account that the gateway did not make", ["account"],
    registry=REGISTRY,
)

BACKGROUND_FAILURES = Counter(
    "gateway_background_failures_total", "Failed rounds or crashes of a background loop", ["loop"],
    registry=REGISTRY,
)
BACKGROUND_RESTARTS = Counter(
    "gateway_background_restarts_total", "Background loops restarted after a crash", ["loop"], registry=REGISTRY,
)
BACKGROUND_RUNNING = Gauge(
    "gateway_background_running", "1 while a background loop runs, 0 while it waits to restart", ["loop"],
    registry=REGISTRY,
)
BACKGROUND_LAST_ROUND = Gauge(
    "gateway_background_last_round_timestamp_seconds", "When a background loop last completed a round", ["loop"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)
