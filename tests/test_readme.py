"""The README is the front door (two commands); docs/protocol.md documents every registry metric
and docs/reference-results.md every committed reference figure (generated tables must match)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _table_module():
    spec = importlib.util.spec_from_file_location("metrics_table", ROOT / "scripts/metrics_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_protocol_metric_table_matches_registry():
    from tailshift.metrics import REGISTRY

    mod = _table_module()
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    block = text.split(mod.START, 1)[1].split(mod.END, 1)[0].strip()
    assert block == mod.table(), "run: python scripts/metrics_table.py --write"
    for name in REGISTRY:
        assert f"| `{name}` |" in block


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/quickstart.sh" in text and "bash scripts/test.sh" in text
    assert "scripts/test.sh" in (ROOT / ".ci/run").read_text(encoding="utf-8")


def test_readme_links_resolve():
    """Every relative link of the README and of docs/ points to a file that exists."""
    import re

    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_reference_table_matches_the_committed_results(capsys):
    """Every figure of the reference table comes from leaderboard/results."""
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts/results_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(ROOT / "leaderboard/results")]) == 0
    table = capsys.readouterr().out.strip()
    assert table.count("\n") >= 20  # 5 splits x 4 baselines, plus the header
    doc = (ROOT / "docs" / "reference-results.md").read_text(encoding="utf-8")
    assert table in doc, "run: python scripts/results_table.py"
