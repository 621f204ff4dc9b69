"""Small SUMO networks for the twin tests, written as plain XML and built with netconvert."""

from __future__ import annotations

import subprocess
from pathlib import Path

Node = tuple[float, float, str]
"""x, y (m) and SUMO node type."""
Edge = tuple[str, str, float]
"""From node, to node, speed (m/s); one lane."""


def build_plain_net(d: Path, nodes: dict[str, Node], edges: dict[str, Edge]) -> Path:
    """``d/net.net.xml`` from these nodes and one-lane edges: no U-turns, static programmes."""
    import sumo  # sets SUMO_HOME
    import sumolib

    del sumo
    d.mkdir(parents=True, exist_ok=True)
    (d / "n.nod.xml").write_text(
        "<nodes>"
        + "".join(f'<node id="{n}" x="{x}" y="{y}" type="{t}"/>' for n, (x, y, t) in nodes.items())
        + "</nodes>"
    )
    (d / "n.edg.xml").write_text(
        "<edges>"
        + "".join(
            f'<edge id="{e}" from="{a}" to="{b}" numLanes="1" speed="{v}"/>'
            for e, (a, b, v) in edges.items()
        )
        + "</edges>"
    )
    net = d / "net.net.xml"
    subprocess.run(
        [
            sumolib.checkBinary("netconvert"),
            f"--node-files={d / 'n.nod.xml'}",
            f"--edge-files={d / 'n.edg.xml'}",
            "--no-turnarounds",
            "--tls.default-type=static",
            "--no-warnings",
            "-o",
            str(net),
        ],
        check=True,
        capture_output=True,
    )
    return net
