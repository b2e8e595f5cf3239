"""Real-browser test of the built site: headless Chromium opens it from disk (``file://``).

Each page is opened as ``page.html#selftest``: the site's own JS (``static/site.js``) then clicks
a column header and checks the order, exercises the filter and the comparison selector, checks
that every image loaded, records window errors, failed resources, ``console.error``, ``alert``
and CSP violations, and writes its verdict to ``<body data-selftest="ok|fail">``, which the test
reads from ``--dump-dom``. Chromium's console log (``--enable-logging=stderr``) must be empty too.
A screenshot of the index is written to ``test-artifacts/leaderboard.png``.

Needs the Debian package ``chromium`` (CI installs it with apt-get); skipped otherwise.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tailshift.leaderboard.build import build_site
from tailshift.leaderboard.testing import write_fake_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless browser test needs the `chromium` "
        + "package (apt-get install -y chromium); not installed here",
    ),
]
XSS = "<script>alert(1)</script>"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium(args: list[str], profile: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--mute-audio",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    write_fake_results(
        root / "results",
        names=("quantile-unet", "hybrid-unet", "gbrt", XSS),
        splits=("temporal", "regime"),
        size=12,
    )
    report = build_site(root / "results", root / "site", jobs=2)
    assert not report.skipped
    return {"root": root, "out": root / "site"}


def _selftest(site, rel: str) -> tuple[str, dict]:
    page = site["out"] / rel
    assert page.exists(), rel
    res = _chromium(
        ["--virtual-time-budget=10000", "--dump-dom", page.as_uri() + "#selftest"],
        site["root"] / f"profile-{rel.replace('/', '_')}",
    )
    dom = res.stdout
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<pre id="selftest-log">(.*?)</pre>', dom, re.S)
    assert m, f"self-test did not run on {rel}: {dom[-500:]!r}\n{res.stderr[-1500:]}"
    log = json.loads(html.unescape(m.group(1)))
    assert 'data-selftest="ok"' in dom, f"{rel}: {log}"
    assert log["problems"] == [], log
    assert _console_lines(res.stderr) == [], _console_lines(res.stderr)
    return dom, log


def test_index_sorts_filters_and_escapes(site):
    dom, log = _selftest(site, "index.html")
    assert any("sorted by column" in line for line in log["log"])
    assert any("filter" in line for line in log["log"])
    # the XSS name is text, not an element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script>alert(1)" not in dom
    scripts = re.findall(r"<script\b[^>]*>", dom)
    assert scripts == ['<script src="static/site.js">'], scripts


def test_submission_pages_load_every_image(site):
    for rel in ("s/temporal/quantile-unet.html", "s/regime/script-alert-1-script.html"):
        dom, log = _selftest(site, rel)
        n = int(next(line for line in log["log"] if "images checked" in line).split()[0])
        assert n >= 6, log
        assert "<script>alert(1)" not in dom


def _fmt3(v: float) -> str:
    """The comparison page's number format (JS ``String(+v.toPrecision(3))``) for 1e-3..1e4."""
    return repr(float(f"{v:.3g}")).removesuffix(".0")


def test_compare_page_selector_works(site):
    dom, log = _selftest(site, "compare.html")
    assert any(line.startswith("compare: 2 splits") for line in log["log"]), log
    assert "B − A" in html.unescape(dom) and "<script>alert(1)" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # the option text, escaped
    # the self-test left A = first, B = last submission: check the CRPS difference and its
    # normal-approximation CI, d ± 1.96·sqrt(se_a² + se_b²) with se = (hi − lo) / (2·1.96)
    data = json.loads((site["out"] / "leaderboard.json").read_text())
    subs = data["splits"][0]["submissions"]
    a, b = subs[0]["scores"]["ood_test"]["crps"], subs[-1]["scores"]["ood_test"]["crps"]
    z = 1.959963984540054
    se_a, se_b = ((s["ci_high"] - s["ci_low"]) / (2 * z) for s in (a, b))
    d = b["value"] - a["value"]
    h = z * (se_a**2 + se_b**2) ** 0.5
    section = dom.split('id="cmp-')[1]
    crps_row = section.split("<code>crps</code>")[1].split("</tr>")[0]
    ood_cell = re.findall(r'<td class="num diffcell">(.*?)</td>', crps_row)[0]
    assert f"+{_fmt3(d)}" in ood_cell, ood_cell
    assert f"[{_fmt3(d - h)}, {_fmt3(d + h)}]" in ood_cell, ood_cell
    if d - h > 0:
        assert "A better" in ood_cell


def test_screenshot_of_index(site):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard.png"
    shot.unlink(missing_ok=True)
    res = _chromium(
        [
            "--hide-scrollbars",
            "--window-size=1440,1000",
            f"--screenshot={shot}",
            (site["out"] / "index.html").as_uri(),
        ],
        site["root"] / "profile-shot",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
