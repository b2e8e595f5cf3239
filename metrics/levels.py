"""Admissible quantile level sets: what a ranked probabilistic submission must cover.

The protocol scores a quantile forecast as the distribution its levels describe (a
piecewise-linear quantile function with flat ends, :func:`tailshift.metrics.kernels.crps_quantiles`), so
its CRPS is exact whatever the levels. The levels still decide how much of the distribution the
submitter actually states: beyond the first and last level the flat ends are a convention, and
a wide gap is a straight line the model never predicted. A ranked submission must therefore
state its distribution everywhere that matters:

* first level <= :data:`FIRST_LEVEL_MAX` (0.02) and last level >= :data:`LAST_LEVEL_MIN`
  (0.98): the flat ends hold at most 2 % of the probability each, and the 5-95 % interval of
  ``coverage_90`` lies inside the stated levels;
* no gap between consecutive levels wider than :data:`MAX_GAP` (0.05).

DRAIN's 99 levels (0.01 ... 0.99), GPROF-NN's 128 levels in [0.001, 0.999] and the baselines'
35 levels ((i + 0.5)/32 plus 0.99, 0.995, 0.999) are admissible; 3 quartiles or one level are
not. An ensemble is admissible with at least :data:`MIN_MEMBERS` members: it is scored as
its empirical distribution, whose 5-95 % interval needs ``1/(m + 1) <= 0.05`` to be resolved.
A file that is not admissible is still scored (exactly), but marked unranked with the rule it
breaks (docs/protocol.md).
"""

from __future__ import annotations

import numpy as np

FIRST_LEVEL_MAX = 0.02
LAST_LEVEL_MIN = 0.98
MAX_GAP = 0.05
MIN_MEMBERS = 20


def check_levels(levels) -> tuple[bool, str | None]:
    """Whether ``levels`` is an admissible set, and if not the rule it breaks (one line)."""
    lv = np.asarray(levels, dtype=np.float64).ravel()
    if lv.size == 0:
        return False, "no quantile levels"
    if lv[0] > FIRST_LEVEL_MAX:
        return False, (f"first quantile level {lv[0]:g} > {FIRST_LEVEL_MAX:g}: state the lower " +
                       f"tail down to {FIRST_LEVEL_MAX:g}")
    if lv[-1] < LAST_LEVEL_MIN:
        return False, (f"last quantile level {lv[-1]:g} < {LAST_LEVEL_MIN:g}: state the upper " +
                       f"tail up to {LAST_LEVEL_MIN:g}")
    if lv.size > 1:
        gaps = np.diff(lv)
        i = int(np.argmax(gaps))
        if gaps[i] > MAX_GAP + 1e-12:
            return False, (f"gap {gaps[i]:.3g} between levels {lv[i]:g} and {lv[i + 1]:g} is " +
                           f"wider than {MAX_GAP:g}: add levels in between")
    return True, None


def check_members(m: int) -> tuple[bool, str | None]:
    """Whether an ensemble of ``m`` members is admissible, and if not why (one line)."""
    if m < MIN_MEMBERS:
        return False, (f"{m} ensemble members < {MIN_MEMBERS}: the 5-95 % interval of an " +
                       f"ensemble needs at least {MIN_MEMBERS - 1} members; submit more " +
                       "members or quantiles")
    return True, None


def brackets_coverage(levels) -> bool:
    """Whether the levels bracket 0.05 and 0.95, so that ``coverage_90`` reads the stated
    distribution rather than the flat ends."""
    lv = np.asarray(levels, dtype=np.float64)
    return bool(lv.size and lv[0] <= 0.05 and lv[-1] >= 0.95)
