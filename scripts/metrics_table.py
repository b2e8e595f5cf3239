"""Print (or check) the metric table of docs/protocol.md, generated from the metric registry.

    python scripts/metrics_table.py            # print the markdown table
    python scripts/metrics_table.py --write    # replace the table between the markers of docs/protocol.md

docs/protocol.md keeps the table between ``<!-- metrics:start -->`` and ``<!-- metrics:end -->``;
``tests/test_readme.py`` fails when it drifts from the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"


def direction(spec) -> str:
    if spec.higher_is_better is True:
        return "higher"
    if spec.higher_is_better is False:
        return "lower"
    if spec.target is not None:
        return f"→ {spec.target:g}"
    return "—"


def table() -> str:
    from tailshift.metrics import REGISTRY

    rows = ["| name | family | definition | units | better | source |", "|---|---|---|---|---|---|"]
    for name, spec in REGISTRY.items():
        desc = " ".join(spec.description.split()).replace("|", "\\|")
        src = " ".join(spec.source.split()).replace("|", "\\|")
        rows.append(
            f"| `{name}` | {spec.family} | {desc} | {spec.units} | {direction(spec)} | {src} |"
        )
    return "\n".join(rows)


def replace_block(text: str, block: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{block}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        readme = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
        readme.write_text(replace_block(readme.read_text(encoding="utf-8"), table()), encoding="utf-8")
        return 0
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
