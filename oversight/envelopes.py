"""Envelopes of the adaptive mode as recommendations: proposed from the network model, approved or
rejected by an operator like a signal plan, and only then published for the control stage.

Pure: the proposal a junction's network model gives, its id, and the approved envelope event an
approval turns it into (:func:`streams.envelopes.approve`, which validates the bounds).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import msgspec

from graph.model import Junction
from optimizer.strategy import Envelope
from streams.envelopes import approve, envelope_from_junction
from streams.events import RecommendationKind, SignalEnvelope

KIND: RecommendationKind = "signal-envelope"
DEFAULT_VALID_S = 24 * 3600
"""How long an envelope proposal waits for a decision before it expires."""


class EnvelopeProposal(msgspec.Struct, frozen=True, kw_only=True):
    """An envelope awaiting an operator's decision: the bounds, where they come from, who asked."""

    proposal_id: str
    junction_id: str
    zone_id: str
    envelope: Envelope
    network_sha256: str
    proposed_by: str
    proposed_at: datetime
    valid_until: datetime
    note: str = ""


def proposal_id(junction_id: str, envelope: Envelope, network_sha256: str, at: datetime) -> str:
    """sha256 prefix of the junction, the bounds, the network and the time of the proposal."""
    payload = msgspec.json.encode(
        {"junction": junction_id, "envelope": envelope, "network": network_sha256, "at": at},
        order="sorted",
    )
    return "env-" + hashlib.sha256(payload).hexdigest()[:16]


def propose(
    junction: Junction,
    *,
    network_sha256: str,
    proposed_by: str,
    now: datetime,
    cycle_min_s: float | None = None,
    cycle_max_s: float = 120.0,
    may_skip_phases: bool = True,
    note: str = "",
    valid_s: float = DEFAULT_VALID_S,
) -> EnvelopeProposal:
    """The envelope the junction's network model describes, as a proposal; ``InvalidEnvelope``
    when those bounds cannot all hold (checked now, not at approval)."""
    from optimizer import validate_envelope

    envelope = envelope_from_junction(
        junction, cycle_min_s, cycle_max_s, may_skip_phases=may_skip_phases
    )
    validate_envelope(envelope)
    return EnvelopeProposal(
        proposal_id=proposal_id(junction.id, envelope, network_sha256, now),
        junction_id=junction.id,
        zone_id=junction.zone_id,
        envelope=envelope,
        network_sha256=network_sha256,
        proposed_by=proposed_by,
        proposed_at=now,
        valid_until=now + timedelta(seconds=valid_s),
        note=note,
    )


def approved(
    proposal: EnvelopeProposal, junction: Junction, by: str, at: datetime
) -> SignalEnvelope:
    """The envelope event of the approval: what the control stage follows."""
    return approve(
        junction,
        proposal.envelope,
        approved_by=by,
        approved_at=at,
        network_sha256=proposal.network_sha256,
        note=proposal.note,
    )
