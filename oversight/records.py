"""What the lifecycle keeps in PostgreSQL: its tables, the communes it serves, a recommendation as
the API shows it, and the decoders of the stored JSON."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from graph.model import Junction
from oversight import envelopes
from oversight.envelopes import EnvelopeProposal
from oversight.lifecycle import AutoApproval
from streams.events import (
    ActivePlan,
    RecommendationDecision,
    RecommendationKind,
    SignalEnvelope,
    SignalPlan,
    Suspension,
)
from streams.topics import TopicNames

KIND: RecommendationKind = "signal-plan"
ENVELOPE: RecommendationKind = envelopes.KIND

SCHEMA = """
CREATE TABLE IF NOT EXISTS recommendations (
    commune text NOT NULL,
    id text NOT NULL,
    kind text NOT NULL,
    subject_id text NOT NULL,
    zone_id text NOT NULL,
    status text NOT NULL,
    proposed_at timestamptz NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    payload text NOT NULL,
    decision text,
    PRIMARY KEY (commune, id)
);
CREATE INDEX IF NOT EXISTS recommendations_pending
    ON recommendations (commune, status, subject_id);
CREATE TABLE IF NOT EXISTS active_plans (
    commune text NOT NULL, junction_id text NOT NULL, body text NOT NULL,
    PRIMARY KEY (commune, junction_id)
);
CREATE TABLE IF NOT EXISTS active_envelopes (
    commune text NOT NULL, junction_id text NOT NULL, body text NOT NULL,
    PRIMARY KEY (commune, junction_id)
);
CREATE TABLE IF NOT EXISTS policies (
    commune text NOT NULL, scope text NOT NULL, target text NOT NULL, body text NOT NULL,
    PRIMARY KEY (commune, scope, target)
);
CREATE TABLE IF NOT EXISTS suspensions (
    commune text NOT NULL, scope text NOT NULL, target text NOT NULL, body text NOT NULL,
    PRIMARY KEY (commune, scope, target)
);
CREATE TABLE IF NOT EXISTS plan_inputs_seen (
    commune text NOT NULL, inputs_id text NOT NULL, PRIMARY KEY (commune, inputs_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    key bytea,
    value bytea,
    published_at timestamptz
);
"""

plan_decoder = msgspec.json.Decoder(SignalPlan)
active_decoder = msgspec.json.Decoder(ActivePlan)
decision_decoder = msgspec.json.Decoder(RecommendationDecision)
suspension_decoder = msgspec.json.Decoder(Suspension)
policy_decoder = msgspec.json.Decoder(AutoApproval)
proposal_decoder = msgspec.json.Decoder(EnvelopeProposal)
envelope_decoder = msgspec.json.Decoder(SignalEnvelope)


@dataclass(frozen=True, slots=True)
class Commune:
    """A tenant: its id, the topic namespace its worker uses, its network model."""

    id: str
    namespace: str
    junctions: dict[str, Junction]
    cycle_bounds: tuple[int, int] = (40, 120)
    name: str = ""

    @property
    def topics(self) -> TopicNames:
        """The commune's topics."""
        return TopicNames(self.namespace)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A recommendation as the API shows it: a signal plan or an envelope proposal."""

    id: str
    kind: str
    commune: str
    subject_id: str
    zone_id: str
    status: str
    proposed_at: datetime
    valid_from: datetime
    valid_until: datetime
    payload: SignalPlan | EnvelopeProposal
    decision: RecommendationDecision | None

    @property
    def plan(self) -> SignalPlan:
        """The signal plan (``TypeError`` for another kind)."""
        if not isinstance(self.payload, SignalPlan):
            raise TypeError(f"recommendation {self.id} is a {self.kind}, not a signal plan")
        return self.payload

    @property
    def envelope(self) -> EnvelopeProposal:
        """The envelope proposal (``TypeError`` for another kind)."""
        if not isinstance(self.payload, EnvelopeProposal):
            raise TypeError(f"recommendation {self.id} is a {self.kind}, not an envelope")
        return self.payload


def decode_payload(kind: str, text: str) -> SignalPlan | EnvelopeProposal:
    return proposal_decoder.decode(text) if kind == ENVELOPE else plan_decoder.decode(text)


def to_jsonable(value: Any) -> Any:
    return json.loads(msgspec.json.encode(value))


def decision_id(commune: str, recommendation_id: str, status: str) -> str:
    """Same commune, recommendation and status: same id (a decision is made once)."""
    return hashlib.sha256(f"{commune}|{recommendation_id}|{status}".encode()).hexdigest()[:20]
