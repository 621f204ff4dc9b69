"""The events on aiguilleur's topics. These Structs ARE the public contract: the JSON Schemas in
``schemas/``
are generated from them (``aiguilleur schemas export``) and a test fails when the two drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

VehicleClass = Literal["all", "car", "hgv", "bus", "bicycle", "motorcycle", "lgv"]


class TrafficCount(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One detector's count for one interval. Topic ``aiguilleur.traffic-counts.v1``, key = detector
    id."""

    detector_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=128, description="Detector id, as in the detector registry."
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


class ZoneReading(msgspec.Struct, frozen=True, array_like=True):
    """A validated count, reduced to what zone aggregation needs (compact: sent in batches)."""

    detector_id: str
    interval_end_ms: int
    interval_s: int
    count: int


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
    """What was measured on one approach during the window, and what the plan expects there."""

    approach_id: str
    flow_vph: float
    saturation_flow_vph: float
    detectors: tuple[str, ...]
    readings: int
    measured: bool
    degree_of_saturation: float
    delay_s_per_veh: float


class ExpectedEffect(msgspec.Struct, frozen=True, kw_only=True):
    """The effect the optimiser expects from the plan."""

    mean_delay_s_per_veh: float
    max_degree_of_saturation: float
    oversaturated: bool


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


DLQ_HEADER_REASON = "aiguilleur.error.reason"
DLQ_HEADER_CODE = "aiguilleur.error.code"
DLQ_HEADER_TOPIC = "aiguilleur.source.topic"
DLQ_HEADER_PARTITION = "aiguilleur.source.partition"
DLQ_HEADER_OFFSET = "aiguilleur.source.offset"
DLQ_HEADER_TIME = "aiguilleur.error.time"
DLQ_HEADERS = (
    DLQ_HEADER_REASON,
    DLQ_HEADER_CODE,
    DLQ_HEADER_TOPIC,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_TIME,
)
"""Dead-letter records keep the original key and value bytes; the reason is in these headers."""
