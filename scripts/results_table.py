"""Print the reference-results table of docs/reference-results.md from the committed results.

    python scripts/results_table.py [leaderboard/results]

Every number comes from ``leaderboard/results/<split>/<name>.json`` (written by
``scripts/reproduce.sh``), so the table can be regenerated and checked.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tailshift.benchmark.results import read_result

COLUMNS = (
    ("CRPS ID", "id_test", "crps"),
    ("CRPS OOD", "ood_test", "crps"),
    ("twCRPS10 OOD", "ood_test", "twcrps_10"),
    ("SEDI99 OOD", "ood_test", "sedi_p99_calibrated"),
    ("RL10 ratio OOD", "ood_test", "rl_ratio_10"),
    ("P99.9 %/K all (ref)", "all_test", "scaling_p999"),
    ("consistent", "all_test", "scaling_consistent_p999"),
)


def cell(result: dict, role: str, metric: str, ref: bool = False) -> str:
    block = result["roles"].get(role, {}).get("scores", {})
    score = block.get(metric)
    if score is None or score.get("value") is None:
        return "—"
    v = score["value"]
    if isinstance(v, bool):
        return "yes" if v else "no"
    text = f"{v:.3g}"
    if score.get("ci_low") is not None:
        text += f" [{score['ci_low']:.3g}, {score['ci_high']:.3g}]"
    if ref:
        r = block.get(f"{metric}_ref", {}).get("value")
        text += f" ({r:.3g})" if r is not None else ""
    return text


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else "leaderboard/results")
    print("| split | model | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for path in sorted(root.glob("*/*.json")):
        res = read_result(path)
        cells = [cell(res, role, m, ref=m.startswith("scaling_p")) for _, role, m in COLUMNS]
        if any(b.get("forecast", {}).get("admissible") is False for b in res["roles"].values()):
            cells[0] += " (unranked)"
        print(f"| {res['split']['name']} | {res['submission']['name']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
