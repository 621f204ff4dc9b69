"""Suite-wide test settings."""

from __future__ import annotations

import os

from hypothesis import settings

# Speed is measured in benchmarks/, never in tests: no per-example deadline (a loaded 2-core CI
# machine made solver-backed properties miss Hypothesis's default 200 ms now and then). Under CI
# the examples are derandomized, so a run can be reproduced exactly; locally they vary.
settings.register_profile("aiguilleur", deadline=None)
settings.register_profile("aiguilleur-ci", deadline=None, derandomize=True)
settings.load_profile("aiguilleur-ci" if os.environ.get("CI") else "aiguilleur")
