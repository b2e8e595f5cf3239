"""Deterministic Poisson bootstrap weights and percentile intervals.

Scene (or block) bootstrap by Poisson(1) weights (the "Poisson bootstrap", Hanley & MacGibbon
2006; Chamandy et al. 2012, Google tech. report "Estimating uncertainty for massive data
streams"): each unit gets an independent weight ``w ~ Poisson(1)`` in each replicate, which for
many units is equivalent to resampling with replacement and -- unlike the multinomial bootstrap --
needs no knowledge of the total count, so statistics can be accumulated chunk by chunk.

The weight of unit ``u`` in replicate ``b`` is a pure function of ``(seed, str(u), b)``: a 64-bit
BLAKE2b key of ``"seed|u"`` is mixed with ``b`` by SplitMix64 (Steele et al. 2014) into a uniform
number that is mapped through the Poisson(1) inverse CDF. Hence results do not depend on how the
data are chunked, ordered or distributed. Replicate 0 is the full sample (all weights 1).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
#: Poisson(1) CDF, k = 0..24 (the tail beyond is < 1e-25).
_POISSON_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(25)])


def unit_keys(ids, seed: int) -> np.ndarray:
    """64-bit keys of unit ids (ints or strings), ``(n,) uint64``.

    Integer ids and their decimal strings give the same key (``7`` and ``"7"``).
    """
    keys = np.empty(len(ids), dtype=np.uint64)
    for i, u in enumerate(ids):
        if isinstance(u, bytes):
            u = u.decode()
        elif isinstance(u, np.integer | int):
            u = int(u)
        h = hashlib.blake2b(f"{seed}|{u}".encode(), digest_size=8).digest()
        keys[i] = np.frombuffer(h, dtype=np.uint64)[0]
    return keys


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def poisson_weights(keys: np.ndarray, n_rep: int) -> np.ndarray:
    """Weights ``(n, n_rep + 1)`` float64: column 0 is 1, columns 1.. Poisson(1) draws."""
    keys = np.asarray(keys, dtype=np.uint64)
    w = np.ones((keys.size, n_rep + 1), dtype=np.float64)
    if n_rep == 0 or keys.size == 0:
        return w
    b = np.arange(1, n_rep + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = _splitmix(keys[:, None] ^ (b[None, :] * _M2))
        x = _splitmix(x)
    u = (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    w[:, 1:] = np.searchsorted(_POISSON_CDF, u, side="right")
    return w


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of replicate values ``values[1:]`` (NaN replicates ignored).

    Returns ``(nan, nan)`` when there are no finite replicates.
    """
    v = np.asarray(values, dtype=np.float64)[1:]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.percentile(v, [100 * a, 100 * (1 - a)])
    return float(lo), float(hi)
