"""Prometheus metrics of the pipeline; the registry is injected (a fresh one per test)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True, slots=True)
class Metrics:
    """The pipeline's instruments."""

    readings: Counter
    dead_letters: Counter
    plans: Counter
    plans_skipped: Counter
    plan_seconds: Histogram
    watermark_lag: Gauge
    zone_batches: Counter
    late_readings: Counter
    junction_states: Counter
    state_dead_letters: Counter
    decisions: Counter
    decisions_skipped: Counter
    decision_seconds: Histogram
    envelopes: Counter
    envelopes_held: Gauge
    incidents: Counter
    advice: Counter
    advice_seconds: Histogram


DEAD_LETTER_CODES = (
    "malformed",
    "invalid",
    "empty",
    "too_large",
    "key_mismatch",
    "unknown_detector",
    "event_time_ahead",
    "event_time_behind",
)
"""Every reason code of the counts' dead letters (a bounded label set)."""


def create_metrics(registry: CollectorRegistry = REGISTRY) -> Metrics:
    """Register the pipeline's metrics in ``registry``, every known label value at zero: a
    dashboard's rejected-readings panel then shows 0 rather than no data."""
    metrics = _create(registry)
    for outcome in ("accepted", "rejected"):
        metrics.readings.labels(outcome=outcome)
    for code in DEAD_LETTER_CODES:
        metrics.dead_letters.labels(reason=code)
    metrics.plans_skipped.labels(reason="no_data")
    return metrics


def _create(registry: CollectorRegistry) -> Metrics:
    return Metrics(
        readings=Counter(
            "aiguilleur_readings", "Input readings by outcome.", ["outcome"], registry=registry
        ),
        dead_letters=Counter(
            "aiguilleur_dead_letters",
            "Records sent to the dead-letter topic, by reason code.",
            ["reason"],
            registry=registry,
        ),
        plans=Counter("aiguilleur_plans_published", "Signal plans published.", registry=registry),
        plans_skipped=Counter(
            "aiguilleur_plans_skipped",
            "Junction plans not published, by reason (no_data: nothing measured in the window).",
            ["reason"],
            registry=registry,
        ),
        plan_seconds=Histogram(
            "aiguilleur_plan_compute_seconds",
            "Time to compute one junction's plan.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=registry,
        ),
        watermark_lag=Gauge(
            "aiguilleur_zone_watermark_lag_seconds",
            "Wall clock minus the oldest zone watermark on this worker.",
            registry=registry,
        ),
        zone_batches=Counter(
            "aiguilleur_zone_batches",
            "Zone reading batches applied to zone state.",
            registry=registry,
        ),
        late_readings=Counter(
            "aiguilleur_readings_late",
            "Readings that reached their zone after their control period was planned; kept on "
            "the late-readings topic.",
            registry=registry,
        ),
        junction_states=Counter(
            "aiguilleur_junction_states",
            "Junction-state records of the control stage, by outcome (accepted, rejected).",
            ["outcome"],
            registry=registry,
        ),
        state_dead_letters=Counter(
            "aiguilleur_state_dead_letters",
            "Junction states sent to their dead-letter topic, by reason code.",
            ["reason"],
            registry=registry,
        ),
        decisions=Counter(
            "aiguilleur_decisions_published",
            "Live-control decisions published (each checked against its envelope).",
            registry=registry,
        ),
        decisions_skipped=Counter(
            "aiguilleur_decisions_skipped",
            "Junction states left without a decision, by reason (no_envelope: no approved "
            "envelope for the junction; outside_envelope: the controller's decision broke it).",
            ["reason"],
            registry=registry,
        ),
        decision_seconds=Histogram(
            "aiguilleur_decision_compute_seconds",
            "Time for a live controller to decide for one junction state.",
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5),
            registry=registry,
        ),
        envelopes=Counter(
            "aiguilleur_envelope_records",
            "Envelope records applied, by outcome (approved, withdrawn, invalid).",
            ["outcome"],
            registry=registry,
        ),
        envelopes_held=Gauge(
            "aiguilleur_envelopes_approved",
            "Junctions with an approved envelope on this worker.",
            registry=registry,
        ),
        incidents=Counter(
            "aiguilleur_incidents",
            "Incident records of the rerouting stage, by outcome (accepted, rejected, detected).",
            ["outcome"],
            registry=registry,
        ),
        advice=Counter(
            "aiguilleur_reroute_advice_published",
            "Reroute advice published, by kind (diversion, no_diversion).",
            ["kind"],
            registry=registry,
        ),
        advice_seconds=Histogram(
            "aiguilleur_reroute_advice_seconds",
            "Time to compute the advice for one incident.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
            registry=registry,
        ),
    )
