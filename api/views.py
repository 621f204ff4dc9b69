"""What the operator sees: recommendations with streets named by their OSM ``name`` tags, what
changes against the active plan, and the map around a junction drawn from the city's own OSM data.

Pure: the network model, a recommendation and the active plan in; JSON-ready dicts out.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

from graph.model import Approach, Junction, Network
from oversight.service import Recommendation
from streams.events import ActivePlan, SignalEnvelope, SignalPlan
from streams.zone_planning import GUARDRAILS_SKIPPED

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
FROM_FR = (
    "du nord",
    "du nord-est",
    "de l'est",
    "du sud-est",
    "du sud",
    "du sud-ouest",
    "de l'ouest",
    "du nord-ouest",
)
"""The same eight sides, as French says where traffic comes from ("en venant de l'est")."""
TOWARDS_FR = (
    "au nord",
    "au nord-est",
    "à l'est",
    "au sud-est",
    "au sud",
    "au sud-ouest",
    "à l'ouest",
    "au nord-ouest",
)
"""The same, as French says where a place lies ("à 80 m à l'est de ...")."""


def junction_label(j: Junction | None, fallback: str) -> str:
    """ "Cours Émile Zola × Rue Dedieu": the junction's streets, from OSM ``name`` tags."""
    if j is None:
        return fallback
    streets: list[str] = []
    for name in [*j.name.split(" / "), *(a.name for a in j.approaches)]:
        if name and name not in streets:
            streets.append(name)
    return " × ".join(streets) if streets else fallback


_NEAR: dict[str, dict[str, tuple[str, dict[str, str]]]] = {}


def near_label(network: Network, junction_id: str) -> dict[str, str] | None:
    """Where a junction named by one street only is ("Rue Dedieu" six times over): ``{"en": "80 m
    east of Cours Émile Zola × Rue Dedieu", "fr": "à 80 m à l'est de Cours Émile Zola × Rue
    Dedieu"}``, from the nearest junction named by two streets or more; ``None`` for one named by
    its crossing."""
    found = _near(network).get(junction_id)
    return None if found is None else found[1]


def _near(network: Network) -> dict[str, tuple[str, dict[str, str]]]:
    """Junction id -> (the junction it is located from, the texts), computed once a network."""
    if network.source_sha256 not in _NEAR:
        crossings = [o for o in network.junctions if " × " in junction_label(o, o.id)]
        found: dict[str, tuple[str, dict[str, str]]] = {}
        for j in network.junctions:
            if " × " in junction_label(j, j.id) or not crossings:
                continue
            cos = math.cos(math.radians(j.lat))

            def metres(o: Junction, j: Junction = j, cos: float = cos) -> float:
                return math.hypot((o.lon - j.lon) * 111_320 * cos, (o.lat - j.lat) * 110_540)

            o = min(crossings, key=metres)
            d = max(10, round(metres(o) / 10) * 10)
            east, north = (j.lon - o.lon) * cos, j.lat - o.lat
            k = round((math.degrees(math.atan2(east, north)) % 360.0) / 45.0) % 8
            label = junction_label(o, o.id)
            found[j.id] = (
                o.id,
                {
                    "en": f"{d} m {COMPASS_EN[k]} of {label}",
                    "fr": f"à {d} m {TOWARDS_FR[k]} de {label}",
                },
            )
        _NEAR[network.source_sha256] = found
    return _NEAR[network.source_sha256]


def side_of(a: Approach) -> int:
    """The side traffic comes from, 0 (north) to 7 (north-west) by 45° steps: where the approach
    meets the junction (``position_deg``, a bearing from the junction centre), else the opposite
    of its direction of travel."""
    where = a.position_deg if a.position_deg is not None else a.bearing_deg + 180.0
    return round((where % 360.0) / 45.0) % 8


def approach_labels(j: Junction | None) -> dict[str, dict[str, str]]:
    """Approach id -> ``{"en": "Cours Émile Zola, from the north-east",
    "fr": "Cours Émile Zola, en venant du nord-est"}``."""
    if j is None:
        return {}
    out = {}
    for a in j.approaches:
        street = a.name or a.id
        k = side_of(a)
        out[a.id] = {
            "en": f"{street}, from the {COMPASS_EN[k]}",
            "fr": f"{street}, en venant {FROM_FR[k]}",
        }
    return out


_UNMEASURED = re.compile(
    r"^approach (?P<a>\S+) has no detector data in the window: its flow is taken as 0$"
)
_PEDESTRIANS = re.compile(
    r"^pedestrian demand is assumed, not measured: (?P<n>[\d.]+) pedestrians/h on each phase "
    r"with a signalised crossing$"
)
_MODIFIED = re.compile(
    r"^modified by (?P<by>.+): cycle (?P<a>\d+) -> (?P<b>\d+) s; the expected effect is the "
    r"recommendation's, not recomputed for the edit$"
)
_GUARDRAILS_SKIPPED_FR = (
    "les garde-fous ne s'appliquent pas aux zones planifiées ensemble : borner chaque carrefour "
    "séparément romprait le cycle commun ; le plan est publié tel que recommandé"
)


def warning_texts(
    warning: str, j: Junction | None, label: str, names: dict[str, dict[str, str]]
) -> dict[str, str]:
    """A plan's warning in English and French (the plans carry English only): the known ones are
    translated, with approaches named by their streets; an unknown one stays as it is in both."""
    m = _UNMEASURED.match(warning)
    if m:
        a = names.get(m["a"], {"en": m["a"], "fr": m["a"]})
        return {
            "en": f"{a['en']}: no detector data in the window, its flow is taken as 0",
            "fr": f"{a['fr']} : aucune donnée de capteur sur la fenêtre, son débit est pris à 0",
        }
    m = _PEDESTRIANS.match(warning)
    if m:
        return {
            "en": warning,
            "fr": f"demande piétonne supposée, non mesurée : {m['n']} piétons/h sur chaque phase "
            "avec une traversée signalisée",
        }
    m = _MODIFIED.match(warning)
    if m:
        return {
            "en": warning,
            "fr": f"modifié par {m['by']} : cycle {m['a']} -> {m['b']} s ; l'effet attendu est "
            "celui de la recommandation, non recalculé pour la modification",
        }
    if warning == GUARDRAILS_SKIPPED:
        return {"en": warning, "fr": _GUARDRAILS_SKIPPED_FR}
    text = named(warning, j, label)
    return {"en": text, "fr": text}


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
        "junction_near": near_label(network, r.subject_id),
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
            "warnings": [warning_texts(w, j, label, names) for w in ex.warnings],
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
        "junction_near": near_label(network, a.junction_id),
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
        "junction_near": near_label(network, r.subject_id),
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


NEAREST = 3
"""Junctions always drawn around one, however far (besides those linked to it and those near)."""
EXIT_STUB_M = 60.0
"""Length of the stub drawn for an exit (the model keeps no geometry for exits)."""


def map_around(network: Network, junction_id: str, radius_m: float = 300.0) -> dict[str, Any]:
    """The streets around a junction from the city's own OSM data in the network model (no tile
    server): its approaches, short stubs for its exits, and the approaches of its neighbours (the
    junctions it is linked to, those within ``radius_m`` and the :data:`NEAREST` nearest), with
    their names; the bounds of it all in ``bounds`` (lon, lat, lon, lat)."""
    j = network.junction(junction_id)
    cos = math.cos(math.radians(j.lat))

    def metres(lon: float, lat: float) -> float:
        return math.hypot((lon - j.lon) * 111_320 * cos, (lat - j.lat) * 110_540)

    linked = {ln.to_junction for ln in network.links if ln.from_junction == j.id}
    linked |= {ln.from_junction for ln in network.links if ln.to_junction == j.id}
    others = sorted(
        (o for o in network.junctions if o.id != j.id), key=lambda o: metres(o.lon, o.lat)
    )
    # the nearest few always, so that an isolated junction is still shown among streets, and the
    # crossing its label locates it from
    nearest = {o.id for o in others[:NEAREST]}
    if j.id in _near(network):
        nearest.add(_near(network)[j.id][0])
    neighbours = [
        o for o in others if o.id in linked or o.id in nearest or metres(o.lon, o.lat) <= radius_m
    ]
    lines: list[dict[str, Any]] = [
        {
            "name": a.name,
            "junction_id": o.id,
            "approach_id": a.id,
            "lanes": a.lanes,
            "here": o.id == j.id,
            "coordinates": [list(p) for p in a.geometry],
        }
        for o in (j, *neighbours)
        for a in o.approaches
        if len(a.geometry) >= 2
    ]
    street = {a.osm_way_id: a.name for o in network.junctions for a in o.approaches if a.name}
    exits: list[dict[str, Any]] = []
    for e in j.exits:
        where = e.position_deg if e.position_deg is not None else e.bearing_deg
        dx = EXIT_STUB_M * math.sin(math.radians(where)) / (111_320 * cos)
        dy = EXIT_STUB_M * math.cos(math.radians(where)) / 110_540
        exits.append(
            {
                "exit_id": e.id,
                "name": street.get(e.osm_way_id, ""),
                "lanes": e.lanes,
                "coordinates": [[j.lon, j.lat], [j.lon + dx, j.lat + dy]],
            }
        )
    points: list[list[float]] = [[j.lon, j.lat]]
    for line in (*lines, *exits):
        points += line["coordinates"]
    return {
        "center": [j.lon, j.lat],
        "radius_m": radius_m,
        "junction": {"id": j.id, "label": junction_label(j, j.id)},
        "lines": lines,
        "exits": exits,
        "junctions": [
            {"id": o.id, "lon": o.lon, "lat": o.lat, "label": junction_label(o, o.id)}
            for o in (j, *neighbours)
        ],
        "bounds": [
            min(p[0] for p in points),
            min(p[1] for p in points),
            max(p[0] for p in points),
            max(p[1] for p in points),
        ],
        "attribution": network.attribution or "© OpenStreetMap contributors, ODbL 1.0",
    }
