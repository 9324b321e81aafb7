"""`pitbox replay --report` as a user would: the real Martinsville recording, the page in real headless Chromium.

The page is opened from disk in a fresh headless Chromium (selenium, system chromedriver); every
plot must be drawn on screen with data in it, the lap table must be there, and a full-page
screenshot is left in `tests/artifacts/` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import headless_chromium, save_screenshot
from tests.support.reference import reference_path

pytestmark = pytest.mark.e2e

PITBOX = [sys.executable, "-m", "driver_app.cli"]
MARTINSVILLE = ("ibt", "skmodtour_martinsville_laps_2015.ibt")
PLOTS = ("Time lost per segment", "Fuel used per lap", "Speed", "Throttle", "Brake", "Time delta")
"""Martinsville has two flying laps: every plot is there (the comparison of lap 33 with lap 32)."""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*PITBOX, *args], capture_output=True, text=True, timeout=120, env=env, check=False, cwd=cwd)


def _write_report(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "out.html"
    result = _run("replay", str(reference_path(*MARTINSVILLE)), "--coach", "--report", str(out), *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"report written to {out}" in result.stderr
    return out


def test_report_renders_in_chromium(tmp_path: Path, artifacts_dir: Path) -> None:
    out = _write_report(tmp_path)
    shutil.copyfile(out, artifacts_dir / "report_martinsville.html")
    with headless_chromium(tmp_path) as driver:
        driver.get(out.as_uri())
        assert "Martinsville Speedway" in driver.title
        screenshot = save_screenshot(driver, artifacts_dir / "report_martinsville.png")
        _check_plots(driver)
        _check_tables(driver)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
    assert screenshot.stat().st_size > 10_000


def _check_plots(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    svgs = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    titles = [svg.find_element(By.TAG_NAME, "title").get_attribute("textContent") for svg in svgs]
    assert len(svgs) == len(PLOTS), titles
    for expected, title in zip(PLOTS, titles, strict=True):
        assert title.startswith(expected), titles
    for svg, title in zip(svgs, titles, strict=True):
        box = svg.rect
        assert box["width"] > 300 and box["height"] > 100, f"{title}: drawn at {box}"
        data = svg.find_elements(By.CSS_SELECTOR, "polyline.series, rect.bar")
        assert data, f"{title}: nothing plotted"
        for element in data:
            drawn = element.rect
            assert drawn["width"] > 0, f"{title}: a {element.tag_name} of zero width"
            if element.tag_name == "polyline":
                assert len(element.get_attribute("points").split()) > 50, f"{title}: too few points"
        assert svg.find_elements(By.TAG_NAME, "path"), f"{title}: no axes"
    units = driver.find_element(By.ID, "traces").text
    assert "speed (km/h)" in units and "lap distance (m)" in units


def _check_tables(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#lap-table tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [c[0] for c in cells] == ["31", "32", "33"], cells
    assert [c[2] for c in cells] == ["out", "flying", "flying"], cells
    assert cells[1][1] == "19.301" and cells[2][1] == "19.546", cells
    assert driver.find_element(By.CSS_SELECTOR, "#lap-table").is_displayed()
    assert driver.find_elements(By.CSS_SELECTOR, "#hotspot-table tbody tr")
    calls = driver.find_elements(By.CSS_SELECTOR, "#calls-table tbody tr")
    assert calls, "--coach was given: the copilot's calls belong in the report"
    assert "consistency" in driver.find_element(By.ID, "consistency").text.lower()


def test_report_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    first = _write_report(tmp_path).read_bytes()
    again = _write_report(tmp_path).read_bytes()
    assert first == again
    assert b"http://" not in first and b"https://" not in first and b"<script" not in first


def test_report_lap_chooses_the_compared_lap(tmp_path: Path) -> None:
    page = _write_report(tmp_path, "--report-lap", "31").read_text(encoding="utf-8")
    assert "Best lap 32 against lap 31" in page


def test_report_errors_are_one_clear_line(tmp_path: Path) -> None:
    path = str(reference_path(*MARTINSVILLE))
    not_a_lap = _run("replay", path, "--report", str(tmp_path / "r.html"), "--report-lap", "99", cwd=tmp_path)
    assert not_a_lap.returncode == 1
    assert not_a_lap.stderr.strip() == "pitbox replay: lap 99 is not a lap of this recording (laps: 31, 32, 33)"
    unwritable = _run("replay", path, "--report", str(tmp_path / "missing" / "r.html"), cwd=tmp_path)
    assert unwritable.returncode == 1
    lines = unwritable.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pitbox replay: cannot write the report to"), unwritable.stderr
    assert not (tmp_path / "missing").exists()


def test_report_of_a_recording_without_laps_says_so(tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = _run(
        "replay", str(reference_path("ibt", "w13_redbullring_pitstall_2024.ibt")), "--report", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert "No complete lap" in page and "<svg" not in page
