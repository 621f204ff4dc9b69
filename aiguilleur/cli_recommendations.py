"""The operator CLI: ``aiguilleur recommendations list|show|approve|reject|modify|history``,
``aiguilleur suspend|resume|suspensions`` and ``aiguilleur policies list|set|remove``, over the
operator API (HTTP, bearer token from AIGUILLEUR_TOKEN or AIGUILLEUR_TOKEN_FILE).

Every decision is the API's: the CLI sends it with the caller's token, so it is on record under the
token's subject, like a click on the page.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import typer

from aiguilleur.operator_client import OperatorClient, OperatorClientError, client

T = TypeVar("T")

app = typer.Typer(
    help="Pending recommendations: list, inspect, approve, reject, modify; a junction's history.",
    no_args_is_help=True,
    add_completion=False,
)
policies_app = typer.Typer(
    help="Administrators' auto-approval policies.", no_args_is_help=True, add_completion=False
)

CommuneOpt = Annotated[
    str | None,
    typer.Option(help="Commune (tenant); default AIGUILLEUR_COMMUNE, else the topic namespace."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
Kind = Literal["plan", "envelope"]
KINDS = {"plan": "signal-plan", "envelope": "signal-envelope"}


def call(commune: str | None, action: Callable[[OperatorClient], T]) -> T:
    """Run ``action`` with a client; a refusal is printed in words and exits 1 (2 for a missing
    token or setting)."""
    from aiguilleur.cli import _settings
    from aiguilleur.operator_client import NoToken

    try:
        c, warnings = client(_settings(), commune)
    except NoToken as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    try:
        return action(c)
    except OperatorClientError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(1) from e


def _dump(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _hm(iso: str) -> str:
    return iso[11:16]


# --- formatting (pure) ---------------------------------------------------------------------------


def format_pending(recs: list[dict[str, Any]]) -> list[str]:
    """One line per pending signal plan."""
    if not recs:
        return ["no pending recommendation"]
    out = [f"{'id':<22} {'junction':<44} {'cycle':>6} {'delay s':>8}  valid (UTC)"]
    for r in recs:
        delay = r["expected_effect"]["mean_delay_s_per_veh"]
        out.append(
            f"{r['id']:<22} {r['junction'][:44]:<44} {r['cycle_s']:>4} s {delay:>8.1f}  "
            f"{_hm(r['valid_from'])}-{_hm(r['valid_until'])}"
        )
    return out


def _phase_bounds(phases: list[dict[str, Any]]) -> str:
    return " ".join(f"P{p['index']}:{p['min_green_s']:g}-{p['max_green_s']:g}s" for p in phases)


def format_pending_envelopes(recs: list[dict[str, Any]]) -> list[str]:
    """One line per pending envelope proposal."""
    if not recs:
        return ["no pending envelope"]
    out = [f"{'id':<22} {'junction':<36} {'cycle':>10}  greens (min-max)  proposed by"]
    for r in recs:
        out.append(
            f"{r['id']:<22} {r['junction'][:36]:<36} {r['cycle_min_s']:>4g}-{r['cycle_max_s']:g}s"
            f"  {_phase_bounds(r['phases'])}  {r['proposed_by']}"
        )
    return out


def _was(value: Any, unit: str = " s") -> str:
    return "none" if value is None else f"{value}{unit}"


def _near(r: dict[str, Any], lang: str) -> str:
    near = r.get("junction_near")
    return f", {near[lang]}" if near else ""


def format_plan(r: dict[str, Any], lang: str) -> list[str]:
    """A signal plan as an operator reads it: what changes, why, on which measurements."""
    ex, ch = r["explanation"], r["changes"]
    out = [
        f"{r['junction']}{_near(r, lang)} ({r['junction_id']}, zone {r['zone_id']})",
        f"  {r['status']}, valid {_hm(r['valid_from'])}-{_hm(r['valid_until'])} UTC, id {r['id']}",
    ]
    if ch["active_plan_id"] is None:
        out.append("  active plan: none (a first plan is not bounded by guardrails)")
    else:
        out.append(
            f"  active plan: {ch['active_plan_id']}, approved by {ch['approved_by']} at "
            f"{ch['approved_at'][:16].replace('T', ' ')}"
        )
    out.append(f"  cycle: {_was(ch['cycle_s'][0])} -> {ch['cycle_s'][1]} s")
    approaches = {p["index"]: p["approaches"] for p in r["phases"]}
    for p in ch["phases"]:
        names = ", ".join(a[lang] for a in approaches.get(p["index"], []))
        out.append(
            f"  phase {p['index']} green: {_was(p['green_s'][0])} -> {p['green_s'][1]} s  ({names})"
        )
    before, after = ch["delay_s_per_veh"]
    out.append(
        "  expected mean delay: "
        + ("n/a" if before is None else f"{before:.1f}")
        + f" -> {after:.1f} s/veh (the model's, not a measurement)"
    )
    out.append(f"  why: {ex['text_' + lang]}")
    if ex["transition"] is not None:
        out.append(f"  guardrail: {ex['transition']['text_' + lang]}")
    for w in ex["warnings"]:
        out.append(f"  warning: {w[lang] if isinstance(w, dict) else w}")
    for a in ex["approaches"]:
        flow = f"{a['flow_vph']:.0f} veh/h" if a["measured"] else "not measured"
        out.append(f"  {a['name'][lang]}: {flow}, x = {a['degree_of_saturation']:.2f}")
    if r["decision"] is not None:
        out.append(_decision_line(r["decision"]))
    return out


def format_envelope(r: dict[str, Any], lang: str) -> list[str]:
    """An envelope proposal: the bounds a live controller would decide within."""
    out = [
        f"{r['junction']}{_near(r, lang)} ({r['junction_id']}, zone {r['zone_id']}): "
        "live-control envelope",
        f"  {r['status']}, proposed by {r['proposed_by']}, valid until "
        f"{r['valid_until'][:16].replace('T', ' ')} UTC, id {r['id']}",
        f"  cycle {r['cycle_min_s']:g}-{r['cycle_max_s']:g} s, phases may "
        + ("be skipped" if r["may_skip_phases"] else "not be skipped"),
        f"  envelope in force: {r['active_envelope_id'] or 'none'}",
    ]
    for p in r["phases"]:
        names = ", ".join(a[lang] for a in p["approaches"])
        out.append(
            f"  phase {p['index']}: green {p['min_green_s']:g}-{p['max_green_s']:g} s, "
            f"intergreen {p['intergreen_s']:g} s  ({names})"
        )
    if r["note"]:
        out.append(f"  note: {r['note']}")
    if r["decision"] is not None:
        out.append(_decision_line(r["decision"]))
    return out


def _decision_line(d: dict[str, Any]) -> str:
    line = f"  decision: {d['status']} by {d['decided_by']} at {d['decided_at'][:19]}"
    if d.get("reason"):
        line += f": {d['reason']}"
    return line


def format_history(h: dict[str, Any]) -> list[str]:
    """A junction's trail: every proposal and decision, with who and why."""
    out = [f"{h['junction']} ({h['junction_id']})"]
    for x in h["trail"]:
        who = x["actor"] + (" (auto)" if x["auto"] else "")
        status = f" {x['status']}" if x["status"] else ""
        reason = f": {x['reason']}" if x["reason"] else ""
        out.append(f"  {x['at'][:19].replace('T', ' ')}  {x['kind']}{status} by {who}{reason}")
    if len(out) == 1:
        out.append("  nothing on record")
    return out


# --- commands ------------------------------------------------------------------------------------


@app.command("list")
def list_cmd(
    kind: Annotated[Kind, typer.Option(help="plan (signal plans) or envelope.")] = "plan",
    commune: CommuneOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The recommendations awaiting a decision."""
    recs = call(commune, lambda c: c.pending(KINDS[kind]))
    if as_json:
        _dump(recs)
        return
    for line in (format_pending if kind == "plan" else format_pending_envelopes)(recs):
        print(line)


@app.command("show")
def show_cmd(
    recommendation_id: Annotated[str, typer.Argument(help="The recommendation's id.")],
    lang: Annotated[Literal["en", "fr"], typer.Option(help="Language of the text.")] = "en",
    commune: CommuneOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One recommendation: what changes against what is active, why, the measured flows."""
    r = call(commune, lambda c: c.get(recommendation_id))
    if as_json:
        _dump(r)
        return
    for line in (format_envelope if r["kind"] == "signal-envelope" else format_plan)(r, lang):
        print(line)


def _decided(d: dict[str, Any]) -> None:
    extra = f" as {d['approved_id']}" if d.get("modified") else ""
    print(f"{d['status']} {d['recommendation_id']}{extra} by {d['decided_by']}")


@app.command("approve")
def approve_cmd(
    recommendation_id: Annotated[str, typer.Argument(help="The recommendation's id.")],
    reason: Annotated[str, typer.Option(help="Why, for the record (optional).")] = "",
    commune: CommuneOpt = None,
) -> None:
    """Approve as proposed: a plan becomes the junction's active plan, an envelope the bounds its
    live controller follows."""
    _decided(call(commune, lambda c: c.decide(recommendation_id, "approve", {"reason": reason})))


@app.command("reject")
def reject_cmd(
    recommendation_id: Annotated[str, typer.Argument(help="The recommendation's id.")],
    reason: Annotated[str, typer.Option(help="Why (required: it goes on record).")],
    commune: CommuneOpt = None,
) -> None:
    """Reject, with a reason."""
    if not reason.strip():
        print("error: --reason must say why: a rejection goes on record", file=sys.stderr)
        raise typer.Exit(2)
    _decided(call(commune, lambda c: c.decide(recommendation_id, "reject", {"reason": reason})))


def parse_greens(text: str) -> list[int]:
    """``40,35`` -> [40, 35]; ``ValueError`` names the bad item."""
    out = []
    for item in text.split(","):
        try:
            out.append(int(item.strip()))
        except ValueError as e:
            raise ValueError(f"--greens: {item.strip()!r} is not a whole number of seconds") from e
    return out


@app.command("modify")
def modify_cmd(
    recommendation_id: Annotated[str, typer.Argument(help="The plan's id.")],
    cycle: Annotated[int, typer.Option(help="Cycle (s).")],
    greens: Annotated[str, typer.Option(help="Each phase's green (s), in phase order: 40,35.")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    commune: CommuneOpt = None,
) -> None:
    """Approve an edited plan: it must pass the checks a computed plan passes (phases, greens
    plus intergreens equal to the cycle, green and cycle bounds)."""
    try:
        values = parse_greens(greens)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    body = {"cycle_s": cycle, "greens_s": values, "reason": reason}
    _decided(call(commune, lambda c: c.decide(recommendation_id, "modify", body)))


@app.command("history")
def history_cmd(
    junction_id: Annotated[str, typer.Argument(help="The junction's id.")],
    commune: CommuneOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A junction's proposals and decisions, from the audit trail."""
    h = call(commune, lambda c: c.history(junction_id))
    if as_json:
        _dump(h)
        return
    for line in format_history(h):
        print(line)


Scope = Literal["junction", "zone", "commune"]


def suspend_cmd(
    scope: Annotated[Scope, typer.Argument(help="junction, zone or commune.")],
    target: Annotated[
        str, typer.Argument(help="The junction or zone id (none for a commune).")
    ] = "",
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    only: Annotated[
        Literal["both", "recommendations", "control"],
        typer.Option(help="Stop only recommendations, or only live control (default both)."),
    ] = "both",
    commune: CommuneOpt = None,
) -> None:
    """Stop recommendations and live control at once for a junction, a zone or the commune:
    no plan is proposed, no live decision is sent (the junction runs its programme on record),
    no approval is accepted until `aiguilleur resume`."""
    if scope != "commune" and not target:
        print(f"error: name the {scope} to suspend", file=sys.stderr)
        raise typer.Exit(2)
    body = {
        "scope": scope,
        "target": target,
        "recommendations": only in ("both", "recommendations"),
        "control": only in ("both", "control"),
        "reason": reason,
    }
    s = call(commune, lambda c: c.suspend(body))
    what = " and ".join(k for k in ("recommendations", "control") if s[k])
    print(f"suspended {what} for {s['scope']} {s['target']} (by {s['suspended_by']})")


def resume_cmd(
    scope: Annotated[Scope, typer.Argument(help="junction, zone or commune.")],
    target: Annotated[
        str, typer.Argument(help="The junction or zone id (none for a commune).")
    ] = "",
    commune: CommuneOpt = None,
) -> None:
    """Lift a stop."""
    if scope != "commune" and not target:
        print(f"error: name the {scope} to resume", file=sys.stderr)
        raise typer.Exit(2)
    r = call(commune, lambda c: c.resume(scope, c.commune if scope == "commune" else target))
    print(f"resumed {r['resumed']}")


def suspensions_cmd(commune: CommuneOpt = None, as_json: JsonOpt = False) -> None:
    """The stops in force."""
    stops = call(commune, lambda c: c.suspensions())
    if as_json:
        _dump(stops)
        return
    if not stops:
        print("no stop in force")
    for s in stops:
        what = "+".join(k for k in ("recommendations", "control") if s[k])
        reason = f": {s['reason']}" if s["reason"] else ""
        print(
            f"{s['scope']:<9} {s['target']:<24} {what:<24} by {s['suspended_by']} at "
            f"{s['suspended_at'][:16].replace('T', ' ')}{reason}"
        )


@policies_app.command("list")
def policies_list(commune: CommuneOpt = None, as_json: JsonOpt = False) -> None:
    """The auto-approval policies in force."""
    found = call(commune, lambda c: c.policies())
    if as_json:
        _dump(found)
        return
    if not found:
        print("no auto-approval policy: every recommendation goes to a person")
    for p in found:
        print(
            f"{p['scope']:<9} {p['target']:<24} cycle step <= {p['max_cycle_step_s']} s, "
            f"green step <= {p['max_green_step_s']} s, x <= {p['max_degree_of_saturation']:g}, "
            f"{p['hours'][0]}-{p['hours'][1]} h {p['timezone']}"
        )


def parse_hours(text: str) -> tuple[int, int]:
    """``7-20`` -> (7, 20)."""
    try:
        start, end = (int(x) for x in text.split("-"))
    except ValueError as e:
        raise ValueError(f"--hours: {text!r} is not START-END in whole hours, e.g. 7-20") from e
    if not 0 <= start < end <= 24:
        raise ValueError(f"--hours: {text!r} must be 0 <= START < END <= 24")
    return start, end


@policies_app.command("set")
def policies_set(
    scope: Annotated[Literal["junction", "zone"], typer.Argument(help="junction or zone.")],
    target: Annotated[str, typer.Argument(help="The junction or zone id.")],
    max_cycle_step: Annotated[int, typer.Option(help="Most the cycle may move (s).")],
    max_green_step: Annotated[int, typer.Option(help="Most a green may move (s).")],
    hours: Annotated[str, typer.Option(help="Local hours START-END when it applies.")] = "0-24",
    timezone: Annotated[str, typer.Option(help="Time zone of the hours.")] = "Europe/Paris",
    max_saturation: Annotated[
        float, typer.Option(help="Highest degree of saturation it may approve.")
    ] = 0.9,
    commune: CommuneOpt = None,
) -> None:
    """Approve, without a person, recommendations within these bounds from the active plan
    (administrators only; each auto-approval is logged as such)."""
    try:
        span = parse_hours(hours)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    body = {
        "max_cycle_step_s": max_cycle_step,
        "max_green_step_s": max_green_step,
        "hours": list(span),
        "timezone": timezone,
        "max_degree_of_saturation": max_saturation,
    }
    p = call(commune, lambda c: c.set_policy(scope, target, body))
    print(f"policy set for {p['scope']} {p['target']}")


@policies_app.command("remove")
def policies_remove(
    scope: Annotated[Literal["junction", "zone"], typer.Argument(help="junction or zone.")],
    target: Annotated[str, typer.Argument(help="The junction or zone id.")],
    commune: CommuneOpt = None,
) -> None:
    """Remove a policy: recommendations there go to a person again."""
    r = call(commune, lambda c: c.drop_policy(scope, target))
    print(f"removed {r['removed']}")
