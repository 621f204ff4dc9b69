"""Operator-approved envelopes: built from the network model, published on a compacted topic,
held by every worker in a table rebuilt from that topic on start.

The approval is the decision on record: an envelope event names who approved it and when, and
its ``envelope_id`` (a digest of its content) is what every decision quotes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import msgspec

from graph.model import Junction
from optimizer import envelope_from_phases
from optimizer.errors import InvalidEnvelope
from optimizer.strategy import Controller, Envelope
from optimizer.strategy import controller as make_controller
from streams.events import SignalEnvelope

log = logging.getLogger("aiguilleur.streams")

_decoder = msgspec.json.Decoder(SignalEnvelope)


def envelope_id(
    junction_id: str,
    envelope: Envelope,
    approved_by: str,
    approved_at: datetime,
    network_sha256: str,
) -> str:
    """The version of an approval: sha256 prefix of its bounds, approver, time and network."""
    payload = msgspec.json.encode(
        {
            "junction": junction_id,
            "envelope": envelope,
            "by": approved_by,
            "at": approved_at.isoformat(),
            "network": network_sha256,
        },
        order="sorted",
    )
    return hashlib.sha256(payload).hexdigest()[:20]


def envelope_from_junction(
    junction: Junction,
    cycle_min_s: float | None = None,
    cycle_max_s: float = 120.0,
    *,
    may_skip_phases: bool = True,
) -> Envelope:
    """The envelope a junction's network model describes: its phases in index order with their
    minimum and maximum greens and intergreens (what ``twin.live_policy.envelope_for`` grants);
    no minimum cycle unless ``cycle_min_s`` sets one (``optimizer.envelope_from_phases``)."""
    return envelope_from_phases(
        junction.id, junction.phases, cycle_min_s, cycle_max_s, may_skip_phases=may_skip_phases
    )


def approve(
    junction: Junction,
    envelope: Envelope,
    *,
    approved_by: str,
    approved_at: datetime,
    network_sha256: str,
    note: str = "",
) -> SignalEnvelope:
    """The envelope event of an approval; ``InvalidEnvelope`` when its bounds cannot all hold."""
    from optimizer import validate_envelope

    validate_envelope(envelope)
    return SignalEnvelope(
        envelope_id=envelope_id(junction.id, envelope, approved_by, approved_at, network_sha256),
        junction_id=junction.id,
        zone_id=junction.zone_id,
        phase_order=envelope.phase_order,
        min_green_s=envelope.min_green_s,
        max_green_s=envelope.max_green_s,
        intergreen_s=envelope.intergreen_s,
        cycle_min_s=envelope.cycle_min_s,
        cycle_max_s=envelope.cycle_max_s,
        may_skip_phases=envelope.may_skip_phases,
        approved_by=approved_by,
        approved_at=approved_at,
        network_sha256=network_sha256,
        note=note,
    )


def to_envelope(event: SignalEnvelope) -> Envelope:
    """The optimiser's envelope an event approves."""
    return Envelope(
        junction_id=event.junction_id,
        phase_order=event.phase_order,
        min_green_s=event.min_green_s,
        max_green_s=event.max_green_s,
        intergreen_s=event.intergreen_s,
        cycle_min_s=event.cycle_min_s,
        cycle_max_s=event.cycle_max_s,
        may_skip_phases=event.may_skip_phases,
    )


def decode_envelope(value: bytes) -> SignalEnvelope:
    """An envelope record's value (``msgspec.ValidationError`` / ``DecodeError`` when bad)."""
    return _decoder.decode(value)


@dataclass(frozen=True, slots=True)
class Approved:
    """An approved envelope as the control stage uses it: the event, and its controller."""

    event: SignalEnvelope
    envelope: Envelope
    controller: Controller


class EnvelopeTable:
    """Junction id -> approved envelope and its controller, fed by the envelopes topic.

    The last record of a junction wins (the topic is compacted, so a restart rebuilds the same
    table). A tombstone withdraws the approval, and so does a record that cannot be used: no
    envelope means no live decision, and the junction keeps its own programme.
    """

    def __init__(self, controller_name: str) -> None:
        self.controller_name = controller_name
        self._by_junction: dict[str, Approved] = {}

    def __len__(self) -> int:
        return len(self._by_junction)

    def get(self, junction_id: str) -> Approved | None:
        """The junction's approved envelope, if any."""
        return self._by_junction.get(junction_id)

    def apply(self, key: bytes | None, value: bytes | None) -> str:
        """Apply one record of the envelopes topic; returns its outcome (``approved``,
        ``withdrawn`` or ``invalid``, the metric's label)."""
        junction = key.decode("utf-8", "replace") if key is not None else ""
        if value is None:
            self._by_junction.pop(junction, None)
            log.info("event=envelope_withdrawn junction=%s", junction)
            return "withdrawn"
        try:
            event = decode_envelope(value)
            if key is not None and event.junction_id != junction:
                raise InvalidEnvelope(
                    event.junction_id,
                    f"record key {junction!r} differs from junction_id; key it by junction",
                )
            env = to_envelope(event)
            ctrl = make_controller(self.controller_name, env)  # validates the bounds
        except (msgspec.ValidationError, msgspec.DecodeError, InvalidEnvelope) as e:
            self._by_junction.pop(junction, None)
            log.error("event=envelope_invalid junction=%s reason=%r", junction, str(e))
            return "invalid"
        self._by_junction[event.junction_id] = Approved(event, env, ctrl)
        log.info(
            "event=envelope_approved junction=%s envelope_id=%s approved_by=%r approved_at=%s",
            event.junction_id,
            event.envelope_id,
            event.approved_by,
            event.approved_at.isoformat(),
        )
        return "approved"
