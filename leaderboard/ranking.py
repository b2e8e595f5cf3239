"""Ranking the submissions of a split, with ties (the "Ranking" decision in
:mod:`tailshift.leaderboard.build`).

Rank of submission *i* = 1 + the number of submissions significantly better than *i*: by the
paired bootstrap 95% CI of their difference where both carry paired replicates
(:func:`tailshift.metrics.paired.paired_difference`), else by non-overlapping 95% CIs; closed
transitively. :func:`rank_note` says in one sentence which rule ranked a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tailshift.metrics.paired import paired_difference

RANK_ROLE = "ood_test"
#: Fallback for splits without an OOD role (``iid``): rank by ID-test CRPS there.
RANK_ROLE_FALLBACK = "id_test"
RANK_METRIC = "crps"
RANK_RULE = ("by OOD-test CRPS (lower is better); =k marks a shared rank: rank = 1 + the number " +
             "of submissions significantly better, judged by the paired bootstrap 95% CI of the " +
             "difference where both result files carry paired replicates, else by " +
             "non-overlapping 95% CIs; so a tie means no significant difference.")


def _interval(s: dict, spec: dict) -> tuple[float, float] | None:
    """The CI as (best end, worst end) in 'badness' units, for the tie rule."""
    v = s.get("value") if s else None
    if v is None or isinstance(v, bool):
        return None
    lo = s["ci_low"] if s.get("ci_low") is not None else v
    hi = s["ci_high"] if s.get("ci_high") is not None else v
    if spec["higher_is_better"] is True:
        return -hi, -lo
    if spec["higher_is_better"] is False:
        return lo, hi
    t = spec.get("target")
    if t is None:
        return None
    if lo <= t <= hi:
        return 0.0, max(abs(lo - t), abs(hi - t))
    return min(abs(lo - t), abs(hi - t)), max(abs(lo - t), abs(hi - t))


@dataclass(frozen=True)
class RankDetails:
    """Ranks and which rule judged the pairs: ``paired`` pairs by the paired bootstrap CI of
    their difference, ``overlap`` pairs by the marginal-CI overlap rule (no paired replicates;
    ``reasons`` says why, one line per distinct reason)."""

    ranks: list[int | None]
    paired: int = 0
    overlap: int = 0
    reasons: tuple[str, ...] = ()


def _better_paired(role_j: dict | None, role_i: dict | None, metric: str, spec: dict,
                   ident_j: Any, ident_i: Any) -> int:
    """+1 if j is significantly better than i by the paired CI, -1 if worse, 0 if not
    significant. Raises ValueError when the two cannot be paired."""
    hib = spec["higher_is_better"]
    target = spec.get("target") if hib is None else None
    d = paired_difference(role_j or {}, role_i or {}, metric, target=target,
                          split_a=ident_j, split_b=ident_i)
    lo, hi = (-d["ci_high"], -d["ci_low"]) if hib is True else (d["ci_low"], d["ci_high"])
    return 1 if hi < 0 else (-1 if lo > 0 else 0)  # badness of j - badness of i


def rank_details(scores: list[dict | None], spec: dict, roles: list[dict | None] | None = None,
                 metric: str = RANK_METRIC, identities: list[Any] | None = None) -> RankDetails:
    """Ranks with ties, by paired bootstrap differences where possible (module docstring).

    Parameters
    ----------
    scores
        The ranking score of each submission (``{"value", "ci_low", "ci_high"}`` or None).
    spec
        The metric's direction (``higher_is_better``, ``target``).
    roles
        The role block of each submission holding ``scores`` and, optionally, ``replicates``
        (:mod:`tailshift.metrics.paired`); None: no pairing, the overlap rule for every pair.
    metric
        The metric's name in the role blocks.
    identities
        The data each submission was scored on (:func:`tailshift.metrics.paired.data_identity`);
        pairs with different identities fall back to the overlap rule.
    """
    iv = [_interval(s, spec) if s else None for s in scores]
    n = len(iv)
    better = [[False] * n for _ in range(n)]  # better[j][i]: j significantly better than i
    n_paired = n_overlap = 0
    reasons: dict[str, None] = {}
    for i in range(n):
        for j in range(i + 1, n):
            if iv[i] is None or iv[j] is None:
                continue
            verdict = None
            if roles is not None:
                try:
                    verdict = _better_paired(roles[j], roles[i], metric, spec,
                                             None if identities is None else identities[j],
                                             None if identities is None else identities[i])
                except ValueError as exc:
                    reasons[str(exc)] = None
            if verdict is not None:
                n_paired += 1
                better[j][i], better[i][j] = verdict > 0, verdict < 0
            else:
                n_overlap += 1
                better[j][i], better[i][j] = iv[j][1] < iv[i][0], iv[i][1] < iv[j][0]
    for k in range(n):  # transitive closure (Warshall): a chain of significant differences
        for i in range(n):
            if better[i][k]:
                for j in range(n):
                    if better[k][j]:
                        better[i][j] = True
    ranks = [None if iv[i] is None else 1 + sum(1 for j in range(n) if j != i and better[j][i])
             for i in range(n)]
    return RankDetails(ranks, n_paired, n_overlap, tuple(reasons))


def rank_with_ties(scores: list[dict | None], spec: dict, roles: list[dict | None] | None = None,
                   metric: str = RANK_METRIC,
                   identities: list[Any] | None = None) -> list[int | None]:
    """Ranks with ties: ``rank_i = 1 + #{j significantly better than i}``; ``None`` for a missing
    score.

    Without ``roles`` (or for a pair without paired replicates), j is better than i when the
    worst end of CI_j is better than the best end of CI_i, so overlapping CIs tie. With
    ``roles`` carrying paired replicates, the paired bootstrap CI of the difference decides.
    See :func:`rank_details` and the module docstring.
    """
    return rank_details(scores, spec, roles, metric, identities).ranks


def rank_note(details: RankDetails, label: str) -> str:
    """One sentence for the page: which rule ranked the table (``label``: e.g. "OOD-test CRPS")."""
    p, o = details.paired, details.overlap
    if p + o == 0:
        return f"Ranked by {label}; fewer than two ranked submissions, nothing to compare."
    paired = (f"the paired bootstrap 95% CI of their difference in {label} (same scene " +
              "weights for both, so correlated errors cancel)")
    if o == 0:
        pairs = f"all {p} pairs" if p > 1 else "1 pair"
        return (f"Ranked by paired bootstrap differences ({pairs}): " +
                f"two submissions share a rank only when {paired} includes 0.")
    overlap = f"their 95% CIs of {label} overlap (independent CIs: conservative)"
    if p == 0:
        return ("Ranked by overlapping CIs: the result files carry no paired bootstrap " +
                f"replicates, so two submissions share a rank when {overlap}.")
    return (f"Ranked by paired bootstrap differences for {p} of {p + o} pairs: a tie there " +
            f"means {paired} includes 0. The other {o} pair{'s' if o > 1 else ''} (replicates " +
            f"missing or not paired) tie when {overlap}.")
