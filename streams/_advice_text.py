"""The readable text of reroute advice, in English and French, naming streets by their OSM names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graph.routing import EdgeKey, RoutableGraph
from streams.events import AdviceLink, AdvicePoint, AdvisedAlternative, Incident

UNNAMED_EN = "an unnamed road"
UNNAMED_FR = "une voie sans nom"
MAX_VIA = 6

_REASONS_EN = {
    "no_decision_point": "no point upstream where advice can reach drivers",
    "no_alternative": "no way around",
    "policy_excludes": "no way around that the diversion policy allows",
    "no_capacity": "no spare capacity on the ways around",
    "incident_cleared": "the incident is cleared",
    "affected_link_unknown": "the link is not in the road graph",
}
_REASONS_FR = {
    "no_decision_point": "aucun point en amont où l'information atteint les conducteurs",
    "no_alternative": "aucun itinéraire de contournement",
    "policy_excludes": "aucun contournement permis par la politique de déviation",
    "no_capacity": "aucune capacité disponible sur les contournements",
    "incident_cleared": "l'incident est levé",
    "affected_link_unknown": "le tronçon n'est pas dans le graphe routier",
}


@dataclass(frozen=True, slots=True)
class AdviceText:
    """English and French text, and warnings found while writing it."""

    en: str
    fr: str
    warnings: tuple[str, ...] = ()


def names_along(rg: RoutableGraph, edges: Sequence[EdgeKey]) -> tuple[str, ...]:
    """Distinct street names in driving order (an unnamed stretch is left out)."""
    out: list[str] = []
    for e in edges:
        name = rg.name(e)
        if name and (not out or out[-1] != name):
            out.append(name)
    return tuple(dict.fromkeys(out))


def place_name(rg: RoutableGraph, node: int) -> str:
    """The streets meeting at a node, ``A / B``."""
    g = rg.graph
    names = {rg.name((u, v, k)) for u, v, k in g.in_edges(node, keys=True)}
    names |= {rg.name((u, v, k)) for u, v, k in g.out_edges(node, keys=True)}
    named = sorted(n for n in names if n)
    return " / ".join(named[:3]) if named else f"OSM node {node}"


def _via(names: Sequence[str], unnamed: str) -> str:
    if not names:
        return unnamed
    shown = list(names[:MAX_VIA])
    return ", ".join(shown) + (" …" if len(names) > MAX_VIA else "")


def _pct_fr(x: float) -> str:
    """A share as a French percentage (space before the sign)."""
    return f"{x * 100:.0f}\u00a0%"


def _fr(x: float) -> str:
    """One decimal with a decimal comma."""
    return f"{x:.1f}".replace(".", ",")


def _what(incident: Incident) -> tuple[str, str]:
    if incident.kind == "closure" and incident.capacity_factor <= 0:
        return "is closed", "est fermée"
    if incident.kind == "closure":
        left = f"{incident.capacity_factor:.0%}"
        return (
            f"is partly closed ({left} of capacity left)",
            f"est en partie fermée ({left} de capacité)",
        )
    return "is congested", "est congestionnée"


def texts(
    incident: Incident,
    link: AdviceLink,
    point: AdvicePoint,
    alts: Sequence[AdvisedAlternative],
    continuing: float,
    no_advice_s: float,
    saving_s: float,
    total_veh_h: float,
    compliance: float,
    *,
    flow_vph: float,
    last_before_closure: bool = False,
) -> AdviceText:
    """The advice at one decision point, in both languages."""
    what_en, what_fr = _what(incident)
    road_en = link.name or UNNAMED_EN
    road_fr = link.name or UNNAMED_FR
    sign_en = "navigation partners" if point.channel == "navigation" else f"sign {point.channel}"
    sign_fr = (
        "partenaires de navigation" if point.channel == "navigation" else f"panneau {point.channel}"
    )
    parts_en = []
    parts_fr = []
    for a in alts:
        parts_en.append(
            f"{a.share:.0%} ({a.flow_vph:.0f} veh/h) via {_via(a.via, UNNAMED_EN)} "
            f"({a.expected_time_s / 60:.1f} min)"
        )
        parts_fr.append(
            f"{_pct_fr(a.share)} ({a.flow_vph:.0f} véh/h) par {_via(a.via, UNNAMED_FR)} "
            f"({_fr(a.expected_time_s / 60)} min)"
        )
    en = (
        f"{road_en} {what_en} ({incident.kind} {incident.incident_id}, reported by "
        f"{incident.reported_by}). At {point.name} ({sign_en}, {point.distance_m:.0f} m before), "
        f"advise the traffic bound for {road_en} ({flow_vph:.0f} veh/h, {compliance:.0%} assumed "
        f"to follow): {'; '.join(parts_en)}."
    )
    fr = (
        f"{road_fr} {what_fr} ({incident.kind} {incident.incident_id}, signalé par "
        f"{incident.reported_by}). À {point.name} ({sign_fr}, {point.distance_m:.0f} m avant), "
        f"conseiller au trafic se dirigeant vers {road_fr} ({flow_vph:.0f} véh/h, dont "
        f"{_pct_fr(compliance)} supposés suivre) : {' ; '.join(parts_fr)}."
    )
    if continuing > 0.005 and last_before_closure:
        en += (
            f" The other {continuing:.0%} of those following find no way around within "
            "capacity: they reach the closure and must find their own way."
        )
        fr += (
            f" Les {_pct_fr(continuing)} restants de ceux qui suivent ne trouvent pas de "
            "contournement dans la capacité disponible : ils arrivent à la fermeture et doivent "
            "trouver leur chemin."
        )
    elif continuing > 0.005:
        en += f" The other {continuing:.0%} continue to the next decision point or stay."
        fr += f" Les {_pct_fr(continuing)} restants continuent jusqu'au point suivant ou restent."
    en += (
        f" Without advice, drivers discovering it at the link take {no_advice_s / 60:.1f} min; "
        f"each driver following the advice saves {saving_s:.0f} s; at {compliance:.0%} "
        f"compliance, {total_veh_h:.1f} vehicle-hours are saved per hour."
    )
    fr += (
        f" Sans conseil, les conducteurs qui la découvrent sur place mettent "
        f"{_fr(no_advice_s / 60)} min ; chaque conducteur qui suit le conseil gagne "
        f"{saving_s:.0f} s ; avec {_pct_fr(compliance)} de suivi, {_fr(total_veh_h)} "
        "véhicules·heure sont gagnés par heure."
    )
    warnings: tuple[str, ...] = ()
    if saving_s < 0:
        warnings = ("the advice is slower per vehicle than discovering the incident at the link",)
    return AdviceText(en, fr, warnings)


def no_diversion_texts(
    incident: Incident, link: AdviceLink, reason: str, detail: str
) -> AdviceText:
    """Why nothing can be advised, in both languages."""
    what_en, what_fr = _what(incident)
    road_en = link.name or UNNAMED_EN
    road_fr = link.name or UNNAMED_FR
    en = (
        f"No diversion for {road_en}, which {what_en} ({incident.incident_id}): "
        f"{_REASONS_EN.get(reason, reason)} ({detail})."
    )
    fr = (
        f"Pas de déviation pour {road_fr}, qui {what_fr} ({incident.incident_id}) : "
        f"{_REASONS_FR.get(reason, reason)} ({detail})."
    )
    return AdviceText(en, fr)
