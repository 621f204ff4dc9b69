"""The vectorised delay tables are optimizer.delay's formulas, cell for cell."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer._tables import build_tables
from optimizer.delay import control_delay_s, degree_of_saturation
from tests.unit.optimizer._gen import demands


@settings(max_examples=100, deadline=None)
@given(
    q=st.floats(0, 2500),
    s=st.sampled_from([1500.0, 1800.0, 3600.0]),
    g=st.integers(0, 60),
    c=st.integers(30, 150),
)
def test_table_cells_equal_the_scalar_formulas(q: float, s: float, g: int, c: int) -> None:
    demand = demands(2, [[q], [100.0]], sat=s, min_green=0.0, max_green=60.0)
    tables = build_tables(demand, np.array([c], dtype=np.int64), [0, 0], [60, 60], 10)
    lost = demand.phases[0].lost_time_s
    green_eff = max(0.0, g - lost)
    expected = q * control_delay_s(q, s, green_eff, c)
    assert tables.cost[0][0, g] == pytest.approx(expected, rel=1e-12, abs=1e-9)
    # The table caps the green ratio at 1 (as control_delay_s does); x only matters below it.
    x = degree_of_saturation(q, s, min(green_eff, float(c)), c)
    if q == 0:
        assert tables.x[0][0, g] == 0.0
    elif np.isfinite(x):
        assert tables.x[0][0, g] == pytest.approx(x, rel=1e-12)
    else:
        assert not np.isfinite(tables.x[0][0, g])
