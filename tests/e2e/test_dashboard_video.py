"""Video end to end: a real `pitbox-relay serve` process with TLS receives a real H.264 fragmented MP4 from
the driver's token over HTTPS, stores it, and the dashboard in real headless Chromium lists it and plays it
in an HTML5 <video> (decoded frames, the clock moving), with the clip's telemetry offered as a download.

Screenshots at desktop and phone widths are left in `tests/artifacts/` for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.auth import decode_pairing
from relay.protocol import Role
from tests.support.browser import chromium_or_skip, headless_chromium, save_screenshot, spki_pin
from tests.support.dashboard import RelayProcess
from tests.support.polling import wait_for
from tests.support.relay_video import h264_fmp4

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAR = 1
WIDTH, HEIGHT = 640, 360
TELEMETRY = {"car_id": CAR, "start_s": 125.0, "end_s": 129.0, "speed_mps": [61.0, 61.4, 61.9], "brake": [0, 0, 0.4]}


async def upload(relay: RelayProcess, token: str, segment_id: str, body: bytes, query: dict[str, str]) -> Any:
    pin = aiohttp.Fingerprint(bytes.fromhex(relay.certificate.fingerprint_sha256))
    base = relay.dashboard_url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=pin)) as session:
        url = f"{base}/api/cars/{CAR}/video/{segment_id}"
        async with session.put(url, params=query, data=body, headers={**headers, "Content-Type": "video/mp4"}) as r:
            assert r.status == 201, (r.status, await r.text())
            answer = await r.json()
        if query["kind"] == "clip":
            telemetry = json.dumps(TELEMETRY).encode()
            headers["Content-Type"] = "application/json"
            async with session.put(f"{url}/telemetry", data=telemetry, headers=headers) as r:
                assert r.status == 201, (r.status, await r.text())
    return answer


# Videos the relay has listed (with their links): an announcement alone shows the item as "getting its
# link" until the page's listing comes back.
LISTED = (
    "return [...document.querySelectorAll('#clips li[data-segment-id]')]"
    ".filter(li => !li.querySelector('a.download').hidden).map(li => li.dataset.segmentId)"
)
PLAYBACK = """
const v = document.querySelector(`#clips li[data-segment-id="${arguments[0]}"] video`);
return v ? {ready: v.readyState, time: v.currentTime, width: v.videoWidth, height: v.videoHeight,
            paused: v.paused, error: v.error && v.error.code, src: v.currentSrc} : null;
"""


def test_the_relay_stores_a_drivers_video_and_the_dashboard_lists_and_plays_it(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    chromium_or_skip()
    movie = h264_fmp4(4.0, width=WIDTH, height=HEIGHT)
    with RelayProcess(tmp_path / "relay") as relay:
        driver = decode_pairing(relay.invite("Alice", Role.DRIVER, CAR)).token
        viewer = relay.invite("Vic", Role.VIEWER)
        window = {"kind": "segment", "start_s": "95", "end_s": "125"}
        stored = asyncio.run(upload(relay, driver, "seg-0001", movie, window))
        assert stored == {"segment_id": "seg-0001", "url": f"/api/cars/{CAR}/video/seg-0001", "bytes": len(movie)}
        asyncio.run(upload(relay, driver, "clip-0001", movie, {"kind": "clip", "start_s": "125", "end_s": "129"}))
        on_disk = relay.data_dir / "video" / f"car_{CAR}"
        assert (on_disk / "seg-0001.mp4").read_bytes() == movie
        assert json.loads((on_disk / "clip-0001.telemetry.json").read_text()) == TELEMETRY

        pin = spki_pin(relay.certificate.cert_path.read_bytes())
        with headless_chromium(tmp_path, extra_flags=(f"--ignore-certificate-errors-spki-list={pin}",)) as page:
            page.get(f"{relay.dashboard_url}#pair={urllib.parse.quote(viewer, safe='')}")
            wait_for(lambda: page.execute_script("return window.pitbox && pitbox.authenticated"), "sign-in", 20)
            support = page.execute_script("return pitbox.videoSupport.h264")
            assert support in ("probably", "maybe"), f"this Chromium cannot play H.264 in MP4 ({support!r})"

            # Both videos are listed (newest first) from the catch-up the page got when it signed in.
            listed = wait_for(lambda: page.execute_script(LISTED) or None, "the stored videos listed on the page")
            assert listed == ["clip-0001", "seg-0001"]
            clip = page.find_element("css selector", '#clips li[data-segment-id="clip-0001"]')
            assert "clip" in clip.find_element("css selector", ".kind").text.lower()
            assert clip.find_element("css selector", ".window").text.startswith("2:05.000–2:09.000")
            segment = page.find_element("css selector", '#clips li[data-segment-id="seg-0001"]')
            assert not segment.find_element("css selector", "a.telemetry").is_displayed()
            telemetry = clip.find_element("css selector", "a.telemetry")
            assert telemetry.is_displayed() and telemetry.get_attribute("download")
            got = page.execute_async_script(
                "fetch(arguments[0]).then(r => r.json()).then(arguments[1], e => arguments[1](String(e)))",
                telemetry.get_attribute("href"),
            )
            assert got == TELEMETRY

            # Play the clip: frames decoded at the encoded size, and the clock moving.
            started = page.execute_async_script(
                "const v = document.querySelector('#clips li[data-segment-id=\"clip-0001\"] video');"
                "v.muted = true; v.play().then(() => arguments[0](true), e => arguments[0](String(e)));"
            )
            assert started is True, started
            first = wait_for(
                lambda: (s := page.execute_script(PLAYBACK, "clip-0001")) and s["ready"] >= 2 and s["time"] > 0 and s,
                "the clip to play",
                20,
            )
            assert (first["width"], first["height"]) == (WIDTH, HEIGHT) and first["error"] is None
            assert "/video/1/clip-0001.mp4?exp=" in first["src"]
            later = wait_for(
                lambda: (s := page.execute_script(PLAYBACK, "clip-0001"))["time"] > first["time"] + 0.5 and s,
                "the clip's clock to move on",
                20,
            )
            assert later["error"] is None and later["ready"] >= 2

            # A new segment arrives while the page is open: announced, listed on top, the clip plays on.
            asyncio.run(upload(relay, driver, "seg-0002", movie, {"kind": "segment", "start_s": "125", "end_s": "155"}))
            wait_for(lambda: page.execute_script(LISTED)[:1] == ["seg-0002"], "the new segment at the top of the list")
            playing = page.execute_script(PLAYBACK, "clip-0001")
            assert not playing["paused"] and playing["time"] >= later["time"]
            assert page.execute_script("return pitbox.videoErrors.length") == 0

            page.execute_script("window.scrollTo(0, 0)")  # the header is sticky: shoot from the top
            time.sleep(0.3)
            save_screenshot(page, artifacts_dir / "dashboard_video.png")
            page.set_window_size(390, 844)
            time.sleep(0.6)
            page.execute_script("window.scrollTo(0, 0)")
            overflow = page.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"the page is {overflow} px wider than a phone"
            width = page.execute_script(
                "return document.querySelector('#clips li[data-segment-id=\"clip-0001\"] video').offsetWidth"
            )
            assert 200 < width <= 390
            save_screenshot(page, artifacts_dir / "dashboard_video_phone.png")

            # A browser without H.264 gets the list, a plain explanation and download links, no broken player.
            page.set_window_size(1280, 900)
            page.execute_cdp_cmd(
                "Page.addScriptToEvaluateOnNewDocument",
                {"source": "HTMLMediaElement.prototype.canPlayType = () => '';"},
            )
            page.get("about:blank")  # a new document (the same URL with a new #hash would not be one)
            page.get(f"{relay.dashboard_url}#pair={urllib.parse.quote(viewer, safe='')}")
            wait_for(lambda: page.execute_script("return window.pitbox && pitbox.authenticated"), "sign-in", 20)
            assert page.execute_script("return pitbox.videoSupport.h264") == ""
            wait_for(lambda: page.execute_script(LISTED) == ["seg-0002", "clip-0001", "seg-0001"], "the list again")
            clip = page.find_element("css selector", '#clips li[data-segment-id="clip-0001"]')
            wait_for(lambda: "cannot play h.264" in clip.find_element("css selector", ".note").text.lower(), "a note")
            assert page.execute_script("return document.querySelectorAll('#clips video').length") == 0
            download = clip.find_element("css selector", "a.download")
            assert download.is_displayed() and "/video/1/clip-0001.mp4?exp=" in download.get_attribute("href")
