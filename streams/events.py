"""The events on aiguilleur's topics. These Structs ARE the public contract: the JSON Schemas in
``schemas/``
are generated from them (``aiguilleur schemas export``) and a test fails when the two drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from demand.model import DemandSettings

VehicleClass = Literal["all", "car", "hgv", "bus", "bicycle", "motorcycle", "lgv"]

MAX_ID_LENGTH = 4096
"""Longest identifier (detector, junction, zone, movement) an event may carry. Real networks make
long ones: SUMO names a joined cluster after every node it joins ("cluster_<id>_<id>_…", 165
characters and more from OSM node ids), and a movement id holds two edge ids. The bound only
keeps a malformed record from being taken for an id; records are capped at 256 KiB anyway."""


# gc=False on the per-reading structs: they hold scalars only (no reference cycle is possible), and
# ingest makes one or two per reading; untracked, they trigger no collection.
class TrafficCount(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One detector's count for one interval. Topic ``aiguilleur.traffic-counts.v1``, key = detector
    id."""

    detector_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_ID_LENGTH,
            description="Detector id, as in the detector registry.",
        ),
    ]
    interval_end: Annotated[
        datetime,
        msgspec.Meta(
            tz=True, description="End of the counting interval, RFC 3339 with a UTC offset."
        ),
    ]
    interval_s: Annotated[
        int, msgspec.Meta(gt=0, le=3600, description="Interval length in seconds.")
    ]
    count: Annotated[
        int, msgspec.Meta(ge=0, le=100_000, description="Vehicles counted during the interval.")
    ]
    occupancy: (
        Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="Time occupancy, 0..1.")] | None
    ) = None
    mean_speed_kmh: Annotated[float, msgspec.Meta(ge=0.0, le=300.0)] | None = None
    vehicle_class: VehicleClass = "all"
    schema_version: Literal[1] = 1


class TrafficCountBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Many readings sent together by one field gateway or controller (all its detectors for an
    interval, or a backlog after a link outage). Topic ``aiguilleur.traffic-counts-batch.v1``, key =
    gateway id. Each reading is checked on its own: a bad one goes to the dead-letter topic with its
    index in the batch, the others are accepted."""

    gateway_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=128, description="Field gateway or controller id (the key)."
        ),
    ]
    readings: Annotated[
        tuple[TrafficCount, ...],
        msgspec.Meta(
            min_length=1,
            max_length=10_000,
            description="The readings, each a traffic-counts.v1 reading.",
        ),
    ]
    schema_version: Literal[1] = 1


class LateReading(msgspec.Struct, frozen=True, kw_only=True):
    """A reading that reached its zone after its control period was planned."""

    detector_id: str
    """Detector id, ``detector#class`` for a count of one vehicle class."""
    interval_end: datetime
    interval_s: int
    count: int


class LateReadings(msgspec.Struct, frozen=True, kw_only=True):
    """Readings kept because they came too late for their plan. Topic
    ``aiguilleur.late-readings.v1``, key = zone id. They are counted in
    ``aiguilleur_readings_late_total``; a window that still covers them (a window longer than the
    period) uses them too."""

    zone_id: str
    planned_until: datetime
    """End of the last control period already planned in the zone when they arrived."""
    readings: tuple[LateReading, ...]
    schema_version: Literal[1] = 1


class ZoneReading(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A validated count, reduced to what zone aggregation needs (compact: sent in batches)."""

    detector_id: str
    interval_end_ms: int
    interval_s: int
    count: int
    occupancy: float | None = None
    """Time occupancy 0..1 when the reading has one (absent from records written before)."""


class ZoneReadings(msgspec.Struct, frozen=True, kw_only=True):
    """Internal topic ``aiguilleur.zone-readings.v1``, key = zone id: the readings of one zone,
    batched."""

    zone_id: str
    readings: tuple[ZoneReading, ...]


class PhaseGreen(msgspec.Struct, frozen=True, kw_only=True):
    """Green and intergreen of one phase, with the approaches it serves."""

    index: int
    green_s: int
    intergreen_s: int
    approach_ids: tuple[str, ...]
    flow_ratio: float
    degree_of_saturation: float


class ApproachInput(msgspec.Struct, frozen=True, kw_only=True):
    """What was measured on one approach during the window, and what the plan expects there
    (``degree_of_saturation``: the highest of the approach's lane groups; ``delay_s_per_veh``:
    their flow-weighted mean; each group is in ``PlanExplanation.lane_groups``)."""

    approach_id: str
    flow_vph: float
    saturation_flow_vph: float
    detectors: tuple[str, ...]
    readings: int
    measured: bool
    degree_of_saturation: float
    delay_s_per_veh: float
    expected_diverted_vph: float = 0.0
    """Flow reroute advice sends onto this approach, added to the measured flow for this plan."""


class MovementInput(msgspec.Struct, frozen=True, kw_only=True):
    """One movement's part of a lane group: from which lane, how much, and how it was split."""

    movement_id: str
    lane_id: str
    flow_vph: float
    source: str
    """How the lane's count was split onto the movement: ``single-movement``,
    ``measured-turning``, ``exit-counts`` (junction O-D estimate on exit-side counts) or
    ``prior`` (the stated turning prior; see docs/demand.md)."""


class LaneGroupInput(msgspec.Struct, frozen=True, kw_only=True):
    """One lane group the plan was computed for: its lanes and movements, its demand and how it
    was obtained, and what the plan expects there."""

    id: str
    """``<phase index>:<approach id>``."""
    phase: int
    approach_id: str
    lane_ids: tuple[str, ...]
    movements: tuple[MovementInput, ...]
    flow_vph: float
    recent_flow_vph: float | None = None
    """Its flow over the longer recent window (``None``: none was used)."""
    saturation_flow_vph: float
    sources: tuple[str, ...]
    """How its flow was obtained: lane flows (``measured-lane``, ``approach-count``,
    ``other-lanes``, ``unmeasured``), splits (``single-movement``, ``measured-turning``,
    ``exit-counts``, ``prior``), adjustments (``permitted-overflow``, ``occupancy-saturated``)."""
    degree_of_saturation: float
    delay_s_per_veh: float


class ExpectedEffect(msgspec.Struct, frozen=True, kw_only=True):
    """The effect the optimiser expects from the plan."""

    mean_delay_s_per_veh: float
    max_degree_of_saturation: float
    oversaturated: bool
    active_plan_delay_s_per_veh: float | None = None
    """Mean delay the junction's active plan is expected to give under the same demand (``None``:
    no active plan, or one timing other phases): what approving this plan changes."""


class LinkArrival(msgspec.Struct, frozen=True, kw_only=True):
    """How the platoon of one coordination link reaches this junction with the zone's offsets."""

    from_junction: str
    from_phase: int
    to_phase: int
    arrival_in_green_s: int
    """Where the platoon head lands, seconds after the receiving phase's green starts."""
    wait_s_per_veh: float
    uncoordinated_wait_s_per_veh: float
    """The same wait with every offset at zero."""


class ZoneCoordination(msgspec.Struct, frozen=True, kw_only=True):
    """The zone's coordination, on every plan of a zone planned together (common cycle, offsets).

    ``coordinated`` false: coordination was declined (its gain did not pay for the common cycle)
    and each junction runs its own isolated plan, offset 0."""

    planner: str
    coordinated: bool
    cycle_s: int
    """The common cycle (the one tried, when declined)."""
    junction_ids: tuple[str, ...]
    """Junctions planned together: the zone's junctions with something measured."""
    unplanned_junction_ids: tuple[str, ...] = ()
    """Junctions of the zone left out: nothing measured in the window, so no plan."""
    links: int
    """Coordination links costed (one per upstream phase releasing traffic onto a link)."""
    gain_veh_h_per_h: float
    """Delay the offsets save on the links against unsynchronised cycles (veh·h per hour)."""
    common_cycle_cost_veh_h_per_h: float | None
    """Delay the common cycle costs the junctions against their own best cycles; ``null`` when
    the common cycle cannot time some junction within its bounds (an infinite cost: coordination
    is then declined). Plans published before wrote ``null`` there too, unannounced."""
    solver_status: str
    arrivals: tuple[LinkArrival, ...] = ()
    """Links arriving at this junction (coordinated zones only)."""
    text_en: str
    text_fr: str


class TransitionCycle(msgspec.Struct, frozen=True, kw_only=True):
    """The timing of one cycle of a guarded transition (greens in the plan's phase order)."""

    cycle_s: int
    greens_s: tuple[int, ...]


class PlanTransition(msgspec.Struct, frozen=True, kw_only=True):
    """How the published plan moves from the active plan towards the recommendation.

    The running plan is the junction's *active* plan: the last one an operator (or an
    auto-approval policy) approved, on ``aiguilleur.signal-plans.active.v1``. The published plan
    is the first step; the recommendation is ``target_*``. Greens are in the order of the plan's
    ``phases``."""

    running_cycle_s: int
    running_greens_s: tuple[int, ...]
    target_cycle_s: int
    """The cycle the planner recommended for the period."""
    target_greens_s: tuple[int, ...]
    steps: tuple[TransitionCycle, ...]
    """One entry per cycle from the running plan to the recommendation (the first is published)."""
    cycles_to_target: int
    clamped: bool
    """True when the recommendation moved further than the bounds allow: the plan is a step."""
    reached: bool
    """False only when the bounds stop the transition short of the recommendation."""
    max_cycle_step_s: int
    """Bound on the cycle's change per cycle (0: unbounded)."""
    max_green_step_s: int
    """Bound on each green's change per cycle (0: unbounded)."""
    text_en: str
    text_fr: str
    active_plan_id: str = ""
    """``plan_id`` of the active plan the transition starts from."""


class PlanExplanation(msgspec.Struct, frozen=True, kw_only=True):
    """Why this plan: method, objective, binding constraints, inputs and readable text."""

    method: str
    objective: str
    binding_constraints: tuple[str, ...]
    solver_status: str
    parameters: dict[str, float | int | str]
    approaches: tuple[ApproachInput, ...]
    window_start: datetime
    window_end: datetime
    text_en: str
    text_fr: str
    warnings: tuple[str, ...] = ()
    coordination: ZoneCoordination | None = None
    """Set when the plan comes from a zone planner (``AIGUILLEUR_PLANNER=coordinated``)."""
    transition: PlanTransition | None = None
    """Set when guardrails bounded this plan against the junction's active plan."""
    lane_groups: tuple[LaneGroupInput, ...] = ()
    """Every lane group the plan was computed for (absent from plans published before)."""
    running_timing: str = ""
    """What the permitted turns and saturated loops were judged against: ``active`` (the
    junction's approved plan), ``programme`` (the signal's own, from the network model) or empty
    (none known)."""


class SignalPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A recommended plan for one junction. Topic ``aiguilleur.signal-plans.v1``, key = junction
    id."""

    plan_id: str
    junction_id: str
    zone_id: str
    cycle_s: int
    offset_s: int
    phases: tuple[PhaseGreen, ...]
    valid_from: datetime
    valid_until: datetime
    expected_effect: ExpectedEffect
    explanation: PlanExplanation
    inputs_digest: str
    """sha256 of the canonical inputs (network digest, flows, settings): the plan can be recomputed
    from them."""
    model_version: str
    strategy: str
    status: Literal["proposed"] = "proposed"
    schema_version: Literal[1] = 1
    commune: str = ""
    """The commune (tenant) whose worker made the plan (``AIGUILLEUR_COMMUNE``)."""
    inputs_id: str = ""
    """``inputs_id`` of the ``aiguilleur.plan-inputs.v1`` record the plan was computed from: what
    ``aiguilleur audit replay`` recomputes it from."""


DLQ_HEADER_REASON = "aiguilleur.error.reason"
DLQ_HEADER_CODE = "aiguilleur.error.code"
DLQ_HEADER_TOPIC = "aiguilleur.source.topic"
DLQ_HEADER_PARTITION = "aiguilleur.source.partition"
DLQ_HEADER_OFFSET = "aiguilleur.source.offset"
DLQ_HEADER_TIME = "aiguilleur.error.time"
DLQ_HEADER_INDEX = "aiguilleur.source.index"
"""Only on a reading rejected from a batch: its position in the batch's ``readings`` (from 0)."""
DLQ_HEADERS = (
    DLQ_HEADER_REASON,
    DLQ_HEADER_CODE,
    DLQ_HEADER_TOPIC,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_TIME,
)
"""Dead-letter records keep the original key and value bytes; the reason is in these headers."""


# --- Live control (the adaptive mode): envelopes, junction states, decisions -------------------

_Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)]
_PhaseIndex = Annotated[int, msgspec.Meta(ge=0, le=63)]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class SignalEnvelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The bounds an operator approved for one junction's live control. Topic
    ``aiguilleur.signal-envelopes.v1`` (compacted), key = junction id; a tombstone (no value)
    withdraws the approval. The approval is the decision on record: who, when, from which network.
    Bound tuples are indexed by phase index."""

    envelope_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=64,
            description="Version of this approval (sha256 prefix of its content); every decision "
            "names the envelope_id it was checked against.",
        ),
    ]
    junction_id: _Id
    zone_id: _Id
    phase_order: Annotated[
        tuple[_PhaseIndex, ...],
        msgspec.Meta(min_length=1, description="Phase indices in the approved order."),
    ]
    min_green_s: Annotated[tuple[_Seconds, ...], msgspec.Meta(min_length=1)]
    max_green_s: Annotated[tuple[_Seconds, ...], msgspec.Meta(min_length=1)]
    intergreen_s: Annotated[
        tuple[_Seconds, ...],
        msgspec.Meta(min_length=1, description="Yellow and all-red after each phase (s)."),
    ]
    cycle_min_s: Annotated[float, msgspec.Meta(gt=0.0, le=600.0)]
    cycle_max_s: Annotated[float, msgspec.Meta(gt=0.0, le=600.0)]
    may_skip_phases: bool = False
    approved_by: Annotated[
        str, msgspec.Meta(min_length=1, max_length=200, description="Who approved it.")
    ]
    approved_at: Annotated[datetime, msgspec.Meta(tz=True)]
    network_sha256: str = ""
    """Digest of the network model the bounds were taken from."""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    schema_version: Literal[1] = 1


class MovementObservation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One movement (or lane group) as the detectors see it at the observation instant."""

    id: _Id
    queue_veh: Annotated[float, msgspec.Meta(ge=0.0, le=10_000.0)]
    downstream_queue_veh: Annotated[float, msgspec.Meta(ge=0.0, le=10_000.0)] = 0.0
    arrivals_vph: Annotated[float, msgspec.Meta(ge=0.0, le=100_000.0)] = 0.0
    saturation_flow_vph: Annotated[float, msgspec.Meta(ge=0.0, le=100_000.0)] = 1800.0
    approaching_s: Annotated[
        tuple[Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)], ...],
        msgspec.Meta(
            max_length=1000,
            description="Estimated arrival times at the stop line (s from observed_at) of the "
            "vehicles seen upstream, bound for this movement.",
        ),
    ] = ()
    downstream_capacity_veh: Annotated[float, msgspec.Meta(ge=0.0, le=10_000.0)] = 0.0
    """Vehicles the exit lanes can hold (0: unknown)."""
    downstream_vehicles: Annotated[float, msgspec.Meta(ge=0.0, le=10_000.0)] | None = None
    """Vehicles on the exit lanes, moving or not (None: unknown)."""
    waiting_s: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] = 0.0
    """How long the first queued vehicle has waited at the stop line (0: none, or unknown)."""
    detector_gap_s: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] | None = None
    """Seconds since a vehicle last crossed the movement's approach detector (None: none)."""
    queue_age_s: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] | None = 0.0
    """Age of the queue figures (s); None: not measured (the controller falls back to gap
    logic)."""


class PhaseObservation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The movements one phase serves."""

    index: _PhaseIndex
    movements: Annotated[tuple[MovementObservation, ...], msgspec.Meta(max_length=256)]


class JunctionStateReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Live detector state of one junction. Topic ``aiguilleur.junction-states.v1``, key = zone id
    (a zone's junctions live on one partition and one worker)."""

    junction_id: _Id
    zone_id: _Id
    observed_at: Annotated[
        datetime, msgspec.Meta(tz=True, description="Event time of the observation.")
    ]
    current_phase: _PhaseIndex
    phase_elapsed_s: Annotated[
        float,
        msgspec.Meta(ge=0.0, le=86_400.0, description="Green already given to the current phase."),
    ]
    cycle_elapsed_s: _Seconds = 0.0
    phases: Annotated[tuple[PhaseObservation, ...], msgspec.Meta(min_length=1, max_length=64)]
    schema_version: Literal[1] = 1


class SignalDecision(msgspec.Struct, frozen=True, kw_only=True):
    """A live controller's decision, checked against the approved envelope. Topic
    ``aiguilleur.signal-decisions.v1``, key = junction id: the log of every decision."""

    decision_id: str
    """sha256 prefix of (junction, observed_at, envelope_id): a redelivered state gives the same
    decision with the same id."""
    junction_id: str
    zone_id: str
    observed_at: datetime
    """Event time of the junction state the decision answers."""
    from_phase: int
    phase_index: int
    """Phase to show: ``from_phase`` to keep it, another to switch (through its intergreen)."""
    next_decision_in_s: float
    next_decision_at: datetime
    """When to send the junction's state again."""
    reason: str
    controller: str
    envelope_id: str
    envelope_approved_by: str
    model_version: str
    schema_version: Literal[1] = 1
    suspension: str = ""
    """Set while an operator's stop of live control holds (``<scope>:<target>``): the decision
    plays the programme on record (``controller`` ``programme``), not the live controller."""
    programme_plan_id: str = ""
    """The approved plan whose greens the programme on record plays (with ``suspension``)."""


# --- Operators decide: active plans, decisions, suspensions, the inputs of every plan ----------

RecommendationKind = Literal["signal-plan", "signal-envelope", "reroute-advice"]
"""What a recommendation is. Every kind goes through the same lifecycle (proposed, then approved,
rejected, expired or superseded); only what an approval activates differs."""

DecisionStatus = Literal["approved", "rejected", "expired", "superseded"]


class ActivePlan(msgspec.Struct, frozen=True, kw_only=True):
    """The plan a junction runs because someone approved it. Topic
    ``aiguilleur.signal-plans.active.v1`` (compacted), key = junction id. The guardrails bound
    every new recommendation for the junction from this plan."""

    junction_id: str
    zone_id: str
    commune: str = ""
    plan: SignalPlan
    """The approved plan: the recommendation as proposed, or as an operator modified it."""
    decision_id: str
    """The decision on ``aiguilleur.recommendation-decisions.v1`` that made it active."""
    approved_by: str
    approved_at: datetime
    auto: bool = False
    """Approved by an administrator's auto-approval policy rather than by a person."""
    schema_version: Literal[1] = 1


class RecommendationDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a recommendation: who decided, when, why. Topic
    ``aiguilleur.recommendation-decisions.v1``, key = subject id (the junction)."""

    decision_id: str
    commune: str
    kind: RecommendationKind
    recommendation_id: str
    subject_id: str
    """The junction (or the zone, for kinds that apply to a zone)."""
    zone_id: str
    status: DecisionStatus
    decided_by: str
    """The person (the token's subject), ``system`` for expiry and supersession, or
    ``policy:<scope>:<target>`` for an auto-approval."""
    decided_at: datetime
    reason: str = ""
    auto: bool = False
    modified: bool = False
    """Approved as edited by the operator: ``approved_id`` is the edited plan's id."""
    approved_id: str = ""
    superseded_by: str = ""
    schema_version: Literal[1] = 1


SuspensionScope = Literal["junction", "zone", "commune"]


class Suspension(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's stop. Topic ``aiguilleur.suspensions.v1`` (compacted), key =
    ``<scope>:<target>``; a tombstone resumes. While it holds, the worker publishes no
    recommendation (``recommendations``) and the control stage no live decision (``control``):
    the junction falls back to the programme on record."""

    scope: SuspensionScope
    target: str
    """Junction id, zone id, or the commune itself."""
    commune: str = ""
    recommendations: bool = True
    control: bool = True
    suspended_by: str
    suspended_at: datetime
    reason: str = ""
    schema_version: Literal[1] = 1


class PlanningParameters(msgspec.Struct, frozen=True, kw_only=True):
    """The planning configuration a plan was computed with (every field changes plans)."""

    period_s: int
    window_s: int
    cycle_min_s: int
    cycle_max_s: int
    min_coverage: float
    pedestrian_flow_pph: float
    guardrail_max_cycle_step_s: int | None = None
    """``None``: guardrails off."""
    guardrail_max_green_step_s: int | None = None
    recent_window_s: int = 0
    """Longer window whose flows each lane group also carries (0: none; records written before
    it existed had none)."""
    demand: DemandSettings = msgspec.field(default_factory=DemandSettings)
    """The demand estimator's other parameters (docs/demand.md); ``min_coverage`` and
    ``pedestrian_flow_pph`` above override its own."""


class SiteInput(msgspec.Struct, frozen=True, array_like=True):
    """A detector of the zone and the approach it measures (from the detector registry)."""

    detector_id: str
    approach_id: str
    lanes: int
    lane_ids: tuple[str, ...] = ()
    """Model lanes the detector covers (empty: ``lanes`` lanes of its approach, unknown which)."""


class ExpectedInput(msgspec.Struct, frozen=True, array_like=True):
    """Flow expected on an approach from the reroute advice in force (veh/h)."""

    approach_id: str
    vph: float


class PlanInputs(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one zone's plans for one period were computed from, as the worker held it:
    the zone's readings, detector sites, active plans and the configuration. Topic
    ``aiguilleur.plan-inputs.v1``, key = zone id. With the network file (by digest) and the same
    model version, the plans are recomputed byte for byte (``aiguilleur audit replay``)."""

    inputs_id: str
    """sha256 prefix of the rest of the record."""
    commune: str = ""
    zone_id: str
    period_end_ms: int
    network_sha256: str
    planner: str
    """The per-junction planner, or the zone planner when ``zone_planner`` is true."""
    zone_planner: bool = False
    config: PlanningParameters
    sites: tuple[SiteInput, ...]
    readings: tuple[ZoneReading, ...]
    """The zone's readings held at planning time, up to the end of the period."""
    active: tuple[ActivePlan, ...] = ()
    """Active plans of the zone's junctions at planning time."""
    expected: tuple[ExpectedInput, ...] = ()
    """Flow reroute advice in force sends onto the zone's approaches, added to what was measured
    (``streams.diversion_board``)."""
    model_version: str


# --- Rerouting: incidents in, reroute advice out -------------------------------------------------

_OsmId = Annotated[int, msgspec.Meta(gt=0)]


class IncidentLocation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the incident is: an OSM way and the node the traffic comes from (``to_node`` picks
    the direction when the node is inside the way), or a position and the direction of travel."""

    osm_way_id: _OsmId | None = None
    from_node: _OsmId | None = None
    to_node: _OsmId | None = None
    lat: Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)] | None = None
    bearing_deg: (
        Annotated[
            float,
            msgspec.Meta(
                ge=0.0, lt=360.0, description="Direction of travel, degrees clockwise from north."
            ),
        ]
        | None
    ) = None


class Incident(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A closure or congestion on one road link, declared by an operator or detected. Topic
    ``aiguilleur.incidents.v1``, key = incident id; a record with ``status`` ``cleared`` ends it."""

    incident_id: _Id
    kind: Literal["closure", "congestion"]
    status: Literal["active", "cleared"] = "active"
    location: IncidentLocation
    capacity_factor: Annotated[
        float,
        msgspec.Meta(
            ge=0.0,
            le=1.0,
            description="Share of the link's capacity left: 0 for a full closure, 0.5 for one "
            "lane of two.",
        ),
    ] = 0.0
    flow_vph: (
        Annotated[
            float,
            msgspec.Meta(
                ge=0.0,
                le=20_000.0,
                description="Vehicles per hour using the link before the incident, when the "
                "declarer knows it (else measured or assumed).",
            ),
        ]
        | None
    ) = None
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)]
    ends_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    reported_by: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    source: Literal["operator", "detection"] = "operator"
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    schema_version: Literal[1] = 1


class AdviceLink(msgspec.Struct, frozen=True, kw_only=True):
    """A road link of the routable graph, by its OSM way and end nodes."""

    osm_way_id: int
    from_node: int
    to_node: int
    name: str
    road_class: str
    length_m: float
    capacity_vph: float


class AdvicePoint(msgspec.Struct, frozen=True, kw_only=True):
    """The intersection where the advice reaches drivers, and by which channel."""

    node: int
    lat: float
    lon: float
    name: str
    """The streets meeting there."""
    channel: str
    """A sign id from the sign registry, or ``navigation`` (navigation partners)."""
    distance_m: float
    """Along the road, from here to the affected link."""
    approach_node: int
    """The node drivers come from on the road (with ``node``, the approach the advice is for)."""


class AdvisedAlternative(msgspec.Struct, frozen=True, kw_only=True):
    """One way around, from the decision point to where it rejoins the road."""

    index: int
    share: float
    """Share of the flow bound for the affected link at the decision point."""
    flow_vph: float
    via: tuple[str, ...]
    """Street names in driving order (OSM ``name``)."""
    osm_way_ids: tuple[int, ...]
    node_ids: tuple[int, ...]
    """OSM nodes of the path in driving order, from the decision point."""
    length_m: float
    free_time_s: float
    expected_time_s: float
    """With the allocated flows on it (BPR), to the common rejoin point."""
    max_load_ratio: float
    """Highest (flow + diverted) / capacity along the path."""
    signal_approaches: tuple[str, ...] = ()
    """Approaches of signal-controlled junctions the path enters (network model ids): their
    plans get the extra flow."""


class AdviceExplanation(msgspec.Struct, frozen=True, kw_only=True):
    """Why this advice: inputs, method, constraints and readable text."""

    method: str
    objective: str
    solver_status: str
    flow_vph: float
    """Flow bound for the affected link that the allocation shares out."""
    flow_source: Literal["declared", "measured", "assumed"]
    continuing_share: float
    """Share told nothing at this point: it goes on to a later decision point, or stays."""
    unserved_vph: float
    """Flow no alternative could take within capacity (it will queue or find its own way)."""
    binding_constraints: tuple[str, ...]
    no_advice_time_s: float
    """Mean time per vehicle to the rejoin point if drivers discover the incident at the link
    and take the quickest way around from there (the same load model)."""
    parameters: dict[str, float | int | str]
    text_en: str
    text_fr: str
    warnings: tuple[str, ...] = ()


class RerouteAdvice(msgspec.Struct, frozen=True, kw_only=True):
    """A recommended diversion at one decision point around one incident, or why none is
    possible. Topic ``aiguilleur.reroute-advice.v1``, key = incident id. Proposals only: an
    operator decides."""

    advice_id: str
    incident_id: str
    kind: Literal["diversion", "no_diversion"]
    reason: str = ""
    """For ``no_diversion``: ``no_decision_point``, ``no_alternative``, ``policy_excludes``,
    ``incident_cleared``."""
    affected_link: AdviceLink
    decision_point: AdvicePoint | None = None
    alternatives: tuple[AdvisedAlternative, ...] = ()
    expected_saving_s_per_veh: float = 0.0
    """Per vehicle that follows the advice, against discovering the incident at the link."""
    expected_saving_veh_h_per_h: float = 0.0
    """Total, at the assumed compliance."""
    compliance_assumed: float
    valid_from: datetime
    valid_until: datetime
    explanation: AdviceExplanation
    inputs_digest: str
    """sha256 of the canonical inputs (graph digest, incident, flows, closed links, settings)."""
    model_version: str
    status: Literal["proposed"] = "proposed"
    schema_version: Literal[1] = 1
