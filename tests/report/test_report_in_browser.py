"""The report page in headless Chromium: it loads, every image decodes, and a screenshot is kept for people.

Chromium comes from the Debian package that ``make test`` installs (the Makefile's ``chromium`` step); without it
the test skips and says how to get it. Screenshots go to ``test-artifacts/report/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.report.conftest import ReportedFit

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "report"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--hide-scrollbars",
)
# A page that loads the report in a same-origin frame and writes, once it has loaded, how many images it has and
# which did not decode; Chromium's --dump-dom prints the DOM after the load event, so the verdict is in it.
IMAGE_CHECK_PAGE = """<!DOCTYPE html><html><body><pre id="verdict">not loaded</pre>
<iframe id="report" src="index.html" width="1100" height="800"></iframe>
<script>
document.getElementById("report").addEventListener("load", function () {
  var images = Array.from(this.contentDocument.images);
  var broken = images.filter(function (image) { return !(image.complete && image.naturalWidth > 0); })
    .map(function (image) { return image.getAttribute("src"); });
  document.getElementById("verdict").textContent =
    JSON.stringify({title: this.contentDocument.title, images: images.length, broken: broken});
});
</script></body></html>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no headless Chromium found: run `make chromium` (as root: apt-get install chromium) to enable"
    )


def _run_chromium(chromium: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="nwb-dyn-chromium-") as profile:
        return subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _image_verdict(chromium: str, report_dir: Path) -> dict:
    check = report_dir / "image-check.html"
    check.write_text(IMAGE_CHECK_PAGE)
    completed = _run_chromium(chromium, "--virtual-time-budget=5000", "--dump-dom", check.as_uri())
    found = re.search(r'<pre id="verdict">(.*?)</pre>', completed.stdout, re.DOTALL)
    assert completed.returncode == 0 and found, completed.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_report_page_loads_with_every_image_and_is_screenshotted(
    chromium: str, reported_srnn: ReportedFit, tmp_path: Path
) -> None:
    report_dir = tmp_path / "report"
    shutil.copytree(reported_srnn.report_dir, report_dir)
    verdict = _image_verdict(chromium, report_dir)
    assert verdict["title"].startswith("nwb-dyn report: ")
    assert verdict["images"] == len(list(report_dir.glob("*.png"))) == 6
    assert verdict["broken"] == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "srnn-report.png"
    screenshot.unlink(missing_ok=True)
    completed = _run_chromium(
        chromium,
        "--window-size=1100,1800",
        f"--screenshot={screenshot}",
        (report_dir / "index.html").as_uri(),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    # the check can fail: with one figure gone, the page shows a broken image and the verdict names it
    (report_dir / "flow_field.png").unlink()
    assert _image_verdict(chromium, report_dir)["broken"] == ["flow_field.png"]
