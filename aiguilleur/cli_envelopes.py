"""``aiguilleur envelopes``: propose, approve, list and withdraw live-control envelopes, through
the operator API's lifecycle (an approval is an operator's decision on record, published by the
API for the control stage); ``approve --dry-run`` prints what the network model gives."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from aiguilleur.operator_client import OperatorClient

app = typer.Typer(
    help="Operator-approved envelopes for live control (the adaptive mode).",
    no_args_is_help=True,
    add_completion=False,
)


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(2)


def _bounds_body(
    junction: list[str] | None, cycle_min: float | None, cycle_max: float, skip: bool, note: str
) -> dict[str, Any]:
    return {
        "junctions": junction,
        "cycle_min_s": cycle_min,
        "cycle_max_s": cycle_max,
        "may_skip_phases": skip,
        "note": note,
    }


JunctionOpt = Annotated[
    list[str] | None, typer.Option(help="Junction id (repeatable); default: every junction.")
]
CycleMinOpt = Annotated[
    float | None,
    typer.Option(
        help="Shortest cycle allowed (s); default: none beyond what the minimum greens and "
        "intergreens impose."
    ),
]
CycleMaxOpt = Annotated[float, typer.Option(help="Longest cycle allowed (s).")]
SkipOpt = Annotated[bool, typer.Option("--skip/--no-skip", help="May serve phases out of order.")]
NoteOpt = Annotated[str, typer.Option(help="Why, for the record.")]
CommuneOpt = Annotated[
    str | None,
    typer.Option(help="Commune (tenant); default AIGUILLEUR_COMMUNE, else the topic namespace."),
]


@app.command("approve")
def approve_cmd(
    junction: JunctionOpt = None,
    cycle_min: CycleMinOpt = None,
    cycle_max: CycleMaxOpt = 120.0,
    skip: SkipOpt = True,
    note: NoteOpt = "",
    by: Annotated[
        str, typer.Option("--by", help="With --dry-run only: the approver the events name.")
    ] = "",
    dry_run: Annotated[
        bool, typer.Option(help="Print the envelopes the network model gives; decide nothing.")
    ] = False,
    commune: CommuneOpt = None,
) -> None:
    """Propose envelopes built from the network model (its phases in order, their minimum and
    maximum greens and intergreens, these cycle bounds) through the operator API, and approve
    them: an operator's decision on record under the token's subject; the control stage follows
    the approved envelope."""
    if dry_run:
        _dry_run(junction, cycle_min, cycle_max, skip, note, by or "(dry run)")
        return
    if by:
        print(
            "error: --by is for --dry-run: the approver on record is the token's subject",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    from aiguilleur.cli_recommendations import call

    body = _bounds_body(junction, cycle_min, cycle_max, skip, note)

    def run(c: OperatorClient) -> list[dict[str, Any]]:
        return [c.decide(p["id"], "approve", {"reason": note}) for p in c.propose_envelopes(body)]

    decisions = call(commune, run)
    for d in decisions:
        print(f"approved {d['subject_id']} envelope {d['approved_id']}", file=sys.stderr)
    who = decisions[0]["decided_by"] if decisions else "nobody"
    print(f"{len(decisions)} envelope(s) approved by {who!r}")


@app.command("propose")
def propose_cmd(
    junction: JunctionOpt = None,
    cycle_min: CycleMinOpt = None,
    cycle_max: CycleMaxOpt = 120.0,
    skip: SkipOpt = True,
    note: NoteOpt = "",
    commune: CommuneOpt = None,
) -> None:
    """Propose envelopes for another operator to approve (`aiguilleur recommendations list
    --kind envelope`, then `approve ID`)."""
    from aiguilleur.cli_recommendations import call

    body = _bounds_body(junction, cycle_min, cycle_max, skip, note)
    for p in call(commune, lambda c: c.propose_envelopes(body)):
        print(f"proposed {p['junction_id']}: {p['id']}")


def _dry_run(
    junction: list[str] | None,
    cycle_min: float | None,
    cycle_max: float,
    skip: bool,
    note: str,
    by: str,
) -> None:
    import msgspec

    from aiguilleur.approval import approvals
    from aiguilleur.cli import _settings
    from aiguilleur.wiring import load_network
    from optimizer.errors import InvalidEnvelope

    s = _settings()
    network = load_network(s.network_file, s.cache_dir)
    try:
        events = approvals(
            network,
            junction,
            approved_by=by,
            approved_at=datetime.now(UTC),
            cycle_min_s=cycle_min,
            cycle_max_s=cycle_max,
            may_skip_phases=skip,
            note=note,
        )
    except (KeyError, InvalidEnvelope) as e:
        raise _fail(str(e)) from e
    for ev in events:
        print(msgspec.json.encode(ev).decode())


@app.command("withdraw")
def withdraw_cmd(
    junction: Annotated[list[str], typer.Option(help="Junction id (repeatable).")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    commune: CommuneOpt = None,
) -> None:
    """Withdraw approvals: the junctions get no live decision any more."""
    from aiguilleur.cli_recommendations import call

    def run(c: OperatorClient) -> int:
        for j in junction:
            c.withdraw_envelope(j, reason)
        return len(junction)

    n = call(commune, run)
    print(f"{n} approval(s) withdrawn")


@app.command("list")
def list_cmd(commune: CommuneOpt = None) -> None:
    """Print the approved envelopes (what the control stage follows)."""
    from aiguilleur.cli_recommendations import call

    for e in call(commune, lambda c: c.envelopes()):
        greens = " ".join(
            f"P{p['index']}:{p['min_green_s']:g}-{p['max_green_s']:g}s" for p in e["phases"]
        )
        print(
            f"{e['junction_id']:<20} {e['envelope_id']}  cycle {e['cycle_min_s']:g}-"
            f"{e['cycle_max_s']:g}s  {greens}  skip={'yes' if e['may_skip_phases'] else 'no'}  "
            f"by {e['approved_by']!r} at {e['approved_at'][:16].replace('T', ' ')}Z"
        )
