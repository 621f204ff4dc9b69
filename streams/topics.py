"""Topic names, a public contract: versioned, with an optional namespace prefix per commune."""

from __future__ import annotations

from dataclasses import dataclass

TRAFFIC_COUNTS = "aiguilleur.traffic-counts.v1"
TRAFFIC_COUNTS_BATCH = "aiguilleur.traffic-counts-batch.v1"
LATE_READINGS = "aiguilleur.late-readings.v1"
TRAFFIC_COUNTS_DLQ = "aiguilleur.traffic-counts.dlq.v1"
ZONE_READINGS = "aiguilleur.zone-readings.v1"
SIGNAL_PLANS = "aiguilleur.signal-plans.v1"
SIGNAL_ENVELOPES = "aiguilleur.signal-envelopes.v1"
JUNCTION_STATES = "aiguilleur.junction-states.v1"
JUNCTION_STATES_DLQ = "aiguilleur.junction-states.dlq.v1"
SIGNAL_DECISIONS = "aiguilleur.signal-decisions.v1"
ACTIVE_PLANS = "aiguilleur.signal-plans.active.v1"
RECOMMENDATION_DECISIONS = "aiguilleur.recommendation-decisions.v1"
SUSPENSIONS = "aiguilleur.suspensions.v1"
PLAN_INPUTS = "aiguilleur.plan-inputs.v1"
INCIDENTS = "aiguilleur.incidents.v1"
INCIDENTS_DLQ = "aiguilleur.incidents.dlq.v1"
REROUTE_ADVICE = "aiguilleur.reroute-advice.v1"


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The topics of one deployment (one namespace)."""

    namespace: str = ""

    def _name(self, base: str) -> str:
        return f"{self.namespace}.{base}" if self.namespace else base

    @property
    def counts(self) -> str:
        """Input: one reading per detector per interval (key = detector id)."""
        return self._name(TRAFFIC_COUNTS)

    @property
    def count_batches(self) -> str:
        """Input: many readings from one field gateway per record (key = gateway id)."""
        return self._name(TRAFFIC_COUNTS_BATCH)

    @property
    def late_readings(self) -> str:
        """Readings that reached their zone after their period was planned (key = zone id)."""
        return self._name(LATE_READINGS)

    @property
    def dead_letters(self) -> str:
        """Rejected input: original bytes, reason in headers."""
        return self._name(TRAFFIC_COUNTS_DLQ)

    @property
    def zone_readings(self) -> str:
        """Internal: validated readings regrouped by zone (key = zone id)."""
        return self._name(ZONE_READINGS)

    @property
    def plans(self) -> str:
        """Output: recommended plans (key = junction id)."""
        return self._name(SIGNAL_PLANS)

    @property
    def envelopes(self) -> str:
        """Input, compacted: operator-approved live-control envelopes (key = junction id)."""
        return self._name(SIGNAL_ENVELOPES)

    @property
    def junction_states(self) -> str:
        """Input: live detector state per junction (key = zone id)."""
        return self._name(JUNCTION_STATES)

    @property
    def state_dead_letters(self) -> str:
        """Rejected junction states: original bytes, reason in headers."""
        return self._name(JUNCTION_STATES_DLQ)

    @property
    def decisions(self) -> str:
        """Output: live controllers' decisions, each checked against its envelope (key =
        junction id)."""
        return self._name(SIGNAL_DECISIONS)

    @property
    def active_plans(self) -> str:
        """Compacted: the approved plan each junction runs (key = junction id)."""
        return self._name(ACTIVE_PLANS)

    @property
    def recommendation_decisions(self) -> str:
        """Output of the operator API: what became of each recommendation, who decided, why
        (key = junction id)."""
        return self._name(RECOMMENDATION_DECISIONS)

    @property
    def suspensions(self) -> str:
        """Compacted: operators' stops (key = ``<scope>:<target>``; a tombstone resumes)."""
        return self._name(SUSPENSIONS)

    @property
    def plan_inputs(self) -> str:
        """Output: what each zone period's plans were computed from (key = zone id)."""
        return self._name(PLAN_INPUTS)

    @property
    def incidents(self) -> str:
        """Input: closures and congestion declared by operators or detected (key = incident
        id)."""
        return self._name(INCIDENTS)

    @property
    def incident_dead_letters(self) -> str:
        """Rejected incidents: original bytes, reason in headers."""
        return self._name(INCIDENTS_DLQ)

    @property
    def reroute_advice(self) -> str:
        """Output: diversions around incidents, proposed to operators (key = incident id)."""
        return self._name(REROUTE_ADVICE)
