"""What the operator sees: recommendations with streets named by their OSM ``name`` tags, what
changes against the active plan, and the map around a junction drawn from the city's own OSM data.

Pure: the network model, a recommendation and the active plan in; JSON-ready dicts out.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec

from graph.model import Junction, Network
from oversight.service import Recommendation
from streams.events import ActivePlan, SignalEnvelope, SignalPlan

COMPASS_EN = (
    "north",
    "north-east",
    "east",
    "south-east",
    "south",
    "south-west",
    "west",
    "north-west",
)
COMPASS_FR = ("nord", "nord-est", "est", "sud-est", "sud", "sud-ouest", "ouest", "nord-ouest")


def junction_label(j: Junction | None, fallback: str) -> str:
    """ "Cours Émile Zola × Rue Dedieu": the junction's streets, from OSM ``name`` tags."""
    if j is None:
        return fallback
    streets: list[str] = []
    for name in [*j.name.split(" / "), *(a.name for a in j.approaches)]:
        if name and name not in streets:
            streets.append(name)
    return " × ".join(streets) if streets else fallback


def _side(bearing_deg: float) -> int:
    # the approach comes FROM the opposite of its direction of travel
    return round(((bearing_deg + 180.0) % 360.0) / 45.0) % 8


def approach_labels(j: Junction | None) -> dict[str, dict[str, str]]:
    """Approach id -> ``{"en": "Cours Émile Zola, from the north-east", "fr": ...}``."""
    if j is None:
        return {}
    out = {}
    for a in j.approaches:
        street = a.name or a.id
        k = _side(a.bearing_deg if a.position_deg is None else a.position_deg + 180.0)
        out[a.id] = {
            "en": f"{street}, from the {COMPASS_EN[k]}",
            "fr": f"{street}, côté {COMPASS_FR[k]}",
        }
    return out


def named(text: str, j: Junction | None, label: str) -> str:
    """``text`` with the junction's id replaced by its streets."""
    return text if j is None else text.replace(j.id, label)


def changes(plan: SignalPlan, active: ActivePlan | None) -> dict[str, Any]:
    """What approving ``plan`` changes against the active plan."""
    if active is None:
        return {
            "active_plan_id": None,
            "cycle_s": [None, plan.cycle_s],
            "phases": [{"index": p.index, "green_s": [None, p.green_s]} for p in plan.phases],
            "delay_s_per_veh": [None, plan.expected_effect.mean_delay_s_per_veh],
        }
    old = {p.index: p.green_s for p in active.plan.phases}
    return {
        "active_plan_id": active.plan.plan_id,
        "approved_by": active.approved_by,
        "approved_at": active.approved_at.isoformat(),
        "cycle_s": [active.plan.cycle_s, plan.cycle_s],
        "phases": [
            {"index": p.index, "green_s": [old.get(p.index), p.green_s]} for p in plan.phases
        ],
        "delay_s_per_veh": [
            plan.expected_effect.active_plan_delay_s_per_veh,
            plan.expected_effect.mean_delay_s_per_veh,
        ],
    }


def recommendation(
    r: Recommendation, network: Network, active: ActivePlan | None
) -> dict[str, Any]:
    """A recommendation as the page and the CLI show it."""
    j = _junction(network, r.subject_id)
    label = junction_label(j, r.subject_id)
    names = approach_labels(j)
    plan = r.plan
    ex = plan.explanation
    return {
        "id": r.id,
        "kind": r.kind,
        "commune": r.commune,
        "status": r.status,
        "junction_id": r.subject_id,
        "junction": label,
        "zone_id": r.zone_id,
        "proposed_at": r.proposed_at.isoformat(),
        "valid_from": r.valid_from.isoformat(),
        "valid_until": r.valid_until.isoformat(),
        "cycle_s": plan.cycle_s,
        "phases": [
            {
                "index": p.index,
                "green_s": p.green_s,
                "intergreen_s": p.intergreen_s,
                "approaches": [names.get(a, {"en": a, "fr": a}) for a in p.approach_ids],
                "degree_of_saturation": p.degree_of_saturation,
            }
            for p in plan.phases
        ],
        "expected_effect": json.loads(msgspec.json.encode(plan.expected_effect)),
        "explanation": {
            "method": ex.method,
            "text_en": named(ex.text_en, j, label),
            "text_fr": named(ex.text_fr, j, label),
            "warnings": [named(w, j, label) for w in ex.warnings],
            "binding_constraints": list(ex.binding_constraints),
            "approaches": [
                {
                    "name": names.get(a.approach_id, {"en": a.approach_id, "fr": a.approach_id}),
                    "flow_vph": a.flow_vph,
                    "measured": a.measured,
                    "degree_of_saturation": a.degree_of_saturation,
                    "delay_s_per_veh": a.delay_s_per_veh,
                }
                for a in ex.approaches
            ],
            "transition": None
            if ex.transition is None
            else {
                "text_en": named(ex.transition.text_en, j, label),
                "text_fr": named(ex.transition.text_fr, j, label),
                "cycles_to_target": ex.transition.cycles_to_target,
                "target_cycle_s": ex.transition.target_cycle_s,
                "active_plan_id": ex.transition.active_plan_id,
            },
        },
        "changes": changes(plan, active),
        "decision": None if r.decision is None else json.loads(msgspec.json.encode(r.decision)),
        "inputs_id": plan.inputs_id,
        "inputs_digest": plan.inputs_digest,
        "model_version": plan.model_version,
    }


def active_view(a: ActivePlan, network: Network) -> dict[str, Any]:
    """An active plan as the page shows it."""
    j = _junction(network, a.junction_id)
    return {
        "junction_id": a.junction_id,
        "junction": junction_label(j, a.junction_id),
        "plan_id": a.plan.plan_id,
        "cycle_s": a.plan.cycle_s,
        "greens_s": [p.green_s for p in a.plan.phases],
        "approved_by": a.approved_by,
        "approved_at": a.approved_at.isoformat(),
        "auto": a.auto,
    }


def _bounds(
    phase_order: tuple[int, ...],
    min_green_s: tuple[float, ...],
    max_green_s: tuple[float, ...],
    intergreen_s: tuple[float, ...],
    j: Junction | None,
) -> list[dict[str, Any]]:
    names = approach_labels(j)
    phases = {p.index: p for p in j.phases} if j is not None else {}
    return [
        {
            "index": p,
            "min_green_s": min_green_s[p],
            "max_green_s": max_green_s[p],
            "intergreen_s": intergreen_s[p],
            "approaches": [
                names.get(a, {"en": a, "fr": a})
                for a in (phases[p].approach_ids if p in phases else ())
            ],
        }
        for p in phase_order
    ]


def envelope_recommendation(
    r: Recommendation, network: Network, active: SignalEnvelope | None
) -> dict[str, Any]:
    """An envelope proposal as the page and the CLI show it, with the envelope in force."""
    j = _junction(network, r.subject_id)
    p = r.envelope
    e = p.envelope
    return {
        "id": r.id,
        "kind": r.kind,
        "commune": r.commune,
        "status": r.status,
        "junction_id": r.subject_id,
        "junction": junction_label(j, r.subject_id),
        "zone_id": r.zone_id,
        "proposed_at": r.proposed_at.isoformat(),
        "proposed_by": p.proposed_by,
        "valid_until": r.valid_until.isoformat(),
        "cycle_min_s": e.cycle_min_s,
        "cycle_max_s": e.cycle_max_s,
        "may_skip_phases": e.may_skip_phases,
        "phases": _bounds(e.phase_order, e.min_green_s, e.max_green_s, e.intergreen_s, j),
        "note": p.note,
        "network_sha256": p.network_sha256,
        "active_envelope_id": None if active is None else active.envelope_id,
        "decision": None if r.decision is None else json.loads(msgspec.json.encode(r.decision)),
    }


def envelope_view(e: SignalEnvelope, network: Network) -> dict[str, Any]:
    """An approved envelope as the page and the CLI show it."""
    j = _junction(network, e.junction_id)
    return {
        "junction_id": e.junction_id,
        "junction": junction_label(j, e.junction_id),
        "envelope_id": e.envelope_id,
        "cycle_min_s": e.cycle_min_s,
        "cycle_max_s": e.cycle_max_s,
        "may_skip_phases": e.may_skip_phases,
        "phases": _bounds(e.phase_order, e.min_green_s, e.max_green_s, e.intergreen_s, j),
        "approved_by": e.approved_by,
        "approved_at": e.approved_at.isoformat(),
    }


def _junction(network: Network, junction_id: str) -> Junction | None:
    try:
        return network.junction(junction_id)
    except KeyError:
        return None


def map_around(network: Network, junction_id: str, radius_m: float = 250.0) -> dict[str, Any]:
    """The streets around a junction, from the OSM geometry of the network model's approaches:
    GeoJSON-like lines with their names, the junction's point, no tile server."""
    j = network.junction(junction_id)
    cos = math.cos(math.radians(j.lat))

    def near(lon: float, lat: float) -> bool:
        dx = (lon - j.lon) * 111_320 * cos
        dy = (lat - j.lat) * 110_540
        return dx * dx + dy * dy <= radius_m * radius_m

    lines = []
    for other in network.junctions:
        if not near(other.lon, other.lat) and not any(
            near(*pt) for a in other.approaches for pt in a.geometry[:1]
        ):
            continue
        for a in other.approaches:
            if len(a.geometry) >= 2:
                lines.append(
                    {
                        "name": a.name,
                        "junction_id": other.id,
                        "approach_id": a.id,
                        "lanes": a.lanes,
                        "coordinates": [list(p) for p in a.geometry],
                    }
                )
    others = [
        {"id": o.id, "lon": o.lon, "lat": o.lat, "label": junction_label(o, o.id)}
        for o in network.junctions
        if near(o.lon, o.lat)
    ]
    return {
        "center": [j.lon, j.lat],
        "radius_m": radius_m,
        "junction": {"id": j.id, "label": junction_label(j, j.id)},
        "lines": lines,
        "junctions": others,
        "attribution": network.attribution or "© OpenStreetMap contributors, ODbL 1.0",
    }
