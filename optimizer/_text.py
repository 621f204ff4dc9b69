"""Short readable explanations, in English and in French, built from the plan's figures."""

from __future__ import annotations

_FR_CONSTRAINTS = {
    "cycle_max": "cycle maximal",
    "cycle_min": "cycle minimal",
    "min_greens_force_cycle": "verts minimaux",
    "max_greens_force_cycle": "verts maximaux",
    "min_green": "vert minimal",
    "pedestrian_min_green": "vert minimal piétons",
    "max_green": "vert maximal",
    "saturation_cap": "plafond de saturation",
}
_EN_CONSTRAINTS = {
    "cycle_max": "maximum cycle",
    "cycle_min": "minimum cycle",
    "min_greens_force_cycle": "minimum greens",
    "max_greens_force_cycle": "maximum greens",
    "min_green": "minimum green",
    "pedestrian_min_green": "pedestrian minimum green",
    "max_green": "maximum green",
    "saturation_cap": "saturation cap",
}


def _constraint(name: str, words: dict[str, str], phase_word: str) -> str:
    base, _, rest = name.partition("[")
    label = words.get(base, base)
    return f"{label} ({phase_word} {rest.rstrip(']')})" if rest else label


def optimizer_texts(
    jid: str,
    cycle: int,
    worst_x: float,
    oversaturated: bool,
    delay: float,
    running_delay: float | None,
    binding: list[str],
) -> tuple[str, str]:
    """(English, French) summary of an optimised plan."""
    en_bind = ", ".join(_constraint(b, _EN_CONSTRAINTS, "phase") for b in binding) or "none"
    fr_bind = ", ".join(_constraint(b, _FR_CONSTRAINTS, "phase") for b in binding) or "aucune"
    if oversaturated:
        en = (
            f"Junction {jid} is oversaturated: no plan keeps every lane group under capacity. "
            f"Cycle {cycle} s holds the worst degree of saturation to its minimum, {worst_x:.2f}"
        )
        fr = (
            f"Carrefour {jid} sursaturé : aucun plan ne garde toutes les voies sous leur capacité. "
            f"Le cycle de {cycle} s ramène la pire saturation à son minimum, {worst_x:.2f}"
        )
    else:
        en = (
            f"Junction {jid}: cycle {cycle} s and greens chosen to minimise total delay; "
            f"worst degree of saturation {worst_x:.2f}"
        )
        fr = (
            f"Carrefour {jid} : cycle de {cycle} s et verts choisis pour minimiser le retard "
            "total ; "
            f"pire degré de saturation {worst_x:.2f}"
        )
    en += f"; expected delay {delay:.1f} s/veh"
    fr += f" ; retard attendu {delay:.1f} s/véh"
    if running_delay is not None:
        en += f" against {running_delay:.1f} s/veh with the running plan"
        fr += f" contre {running_delay:.1f} s/véh avec le plan en service"
    en += f". Binding constraints: {en_bind}."
    fr += f". Contraintes actives : {fr_bind}."
    return en, fr
