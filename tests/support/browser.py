"""Real headless Chromium for browser tests, through selenium and the system chromedriver.

`chromium_or_skip()` finds the browser and its driver (skipping the calling test with the package
names when either is missing; `scripts/install-system-deps.sh` installs both). `headless_chromium()`
starts a fresh browser with its own profile and no background network traffic, and always quits it.
`save_screenshot()` saves the whole page, not only the window.

    with headless_chromium(tmp_path) as driver:
        driver.get(page.as_uri())
        save_screenshot(driver, artifacts_dir / "page.png")
"""

from __future__ import annotations

import base64
import importlib.util
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

CHROMIUM_NAMES: Final = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER_NAMES: Final = ("chromedriver",)
FLAGS: Final = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
"""Headless, fit for containers and CI, and quiet: no update checks, sync or first-run pages."""
MAX_SCREENSHOT_HEIGHT_PX: Final = 16_000


@dataclass(frozen=True, slots=True)
class ChromiumPaths:
    browser: Path
    driver: Path


def _which(names: tuple[str, ...]) -> Path | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def chromium_or_skip() -> ChromiumPaths:
    """The Chromium browser and chromedriver on PATH; skips the calling test when either is missing."""
    if importlib.util.find_spec("selenium") is None:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    browser = _which(CHROMIUM_NAMES)
    driver = _which(CHROMEDRIVER_NAMES)
    missing = [pkg for pkg, path in (("chromium", browser), ("chromium-driver", driver)) if path is None]
    if browser is None or driver is None:
        pytest.skip(
            f"headless Chromium needs the system packages {' and '.join(missing)} "
            "(scripts/install-system-deps.sh installs them)"
        )
    return ChromiumPaths(browser, driver)


@contextmanager
def headless_chromium(
    profile_dir: Path, *, width: int = 1280, height: int = 900, extra_flags: tuple[str, ...] = ()
) -> Iterator[Any]:
    """A fresh headless Chromium (selenium WebDriver) with its profile in `profile_dir`; quits on exit.

    `extra_flags`: more command-line switches, e.g. `--ignore-certificate-errors-spki-list=...` to
    trust one pinned self-signed certificate (`spki_pin`) and nothing else."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_or_skip()
    options = webdriver.ChromeOptions()
    for flag in (*FLAGS, *extra_flags):
        options.add_argument(flag)
    profile = profile_dir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    # Both paths are given, so selenium-manager has nothing to look up or download.
    options.binary_location = str(paths.browser)
    service = Service(str(paths.driver))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def save_screenshot(driver: Any, path: Path) -> Path:
    """A PNG of the whole page (through the DevTools protocol), or of the window if that fails."""
    from selenium.common.exceptions import WebDriverException

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width = int(size["width"])
        height = min(int(size["height"]), MAX_SCREENSHOT_HEIGHT_PX)
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
    except (WebDriverException, KeyError, TypeError, ValueError):  # DevTools is optional: the window will do
        driver.save_screenshot(str(path))
    return path


def spki_pin(certificate_pem: bytes) -> str:
    """Chromium's pin of a certificate's public key (base64 of the SHA-256 of its SubjectPublicKeyInfo)."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")
