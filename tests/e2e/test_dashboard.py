"""The team dashboard end to end: a real relay process with TLS, the demo-sim pipeline as its driver,
and the page in real headless Chromium that trusts only the relay's pinned certificate.

Screenshots at desktop and phone widths are left in `tests/artifacts/` for a person to look at.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select

from driver_app.pipeline import HandoffPrompt
from relay.protocol import Role
from tests.support.browser import chromium_or_skip, headless_chromium, save_screenshot, spki_pin
from tests.support.dashboard import PipelineThread, RelayProcess
from tests.support.polling import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DESKTOP = (1280, 900)
PHONE = (390, 844)
CAR = 1
SECOND_CAR = 2


def pinned_browser(tmp_path: Path, relay: RelayProcess, size: tuple[int, int] = DESKTOP) -> Any:
    pin = spki_pin(relay.certificate.cert_path.read_bytes())
    flags = (f"--ignore-certificate-errors-spki-list={pin}",)
    return headless_chromium(tmp_path, width=size[0], height=size[1], extra_flags=flags)


def open_signed_in(driver: Any, relay: RelayProcess, pairing: str) -> None:
    driver.get(f"{relay.dashboard_url}#pair={urllib.parse.quote(pairing, safe='')}")
    wait_for(lambda: driver.execute_script("return window.pitbox && window.pitbox.authenticated"), "sign-in", 20)


def session_time(driver: Any) -> float:
    value = driver.execute_script(
        "const c = pitbox.cars.get(arguments[0]); return c && c.live ? c.live.session_time_s : null;", CAR
    )
    return -1.0 if value is None else float(value)


def live_text(driver: Any) -> tuple[str, str, str]:
    return tuple(
        driver.execute_script(f"return document.getElementById('{i}').textContent") for i in ("speed", "rpm", "fuel")
    )  # type: ignore[return-value]


def shot(driver: Any, path: Path) -> None:
    """A whole-page screenshot from the top (the header is sticky on wide screens)."""
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    save_screenshot(driver, path)


def text_of(driver: Any, selector: str) -> str:
    """The lower-case text of the element `selector` finds ("" while there is none)."""
    text = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", selector
    )
    return str(text).strip().lower()


MAP_DOTS = """
const car = pitbox.cars.get(arguments[0]);
if (!car) return null;
const present = [...car.others].filter(([, v]) => v.lap_dist_frac >= 0).map(([idx]) => idx);
const canvas = document.getElementById('map-canvas');
const ctx = canvas.getContext('2d');
const dots = pitbox.mapDrawn.map(d => ({...d, pixel: Array.from(ctx.getImageData(d.x, d.y, 1, 1).data)}));
return {present, dots, source: car.map && car.map.source};
"""


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.fixture()
def rig(tmp_path: Path) -> Any:
    chromium_or_skip()
    with RelayProcess(tmp_path / "relay") as relay:
        pairings = {
            "driver": relay.invite("Alice", Role.DRIVER, CAR),
            "relief": relay.invite("Bob", Role.DRIVER, CAR),
            "viewer": relay.invite("Vic", Role.VIEWER),
            "engineer": relay.invite("Eve", Role.ENGINEER),
            "second car": relay.invite("Dora", Role.DRIVER, SECOND_CAR),
        }
        with PipelineThread(relay, pairings["driver"]) as pipeline:
            yield relay, pipeline, pairings


def test_viewer_and_engineer_see_the_live_car_and_run_a_handoff(rig: Any, tmp_path: Path, artifacts_dir: Path) -> None:
    relay, pipeline, pairings = rig
    with pinned_browser(tmp_path, relay) as driver:
        # --- the viewer
        open_signed_in(driver, relay, pairings["viewer"])
        assert driver.execute_script("return pitbox.role") == "viewer"
        assert "#pair" not in driver.current_url  # the token does not stay in the address bar
        first_t = wait_for(lambda: session_time(driver) > 0 and session_time(driver), "live telemetry", 30)
        first_text = wait_for(lambda: live_text(driver)[0] != "–" and live_text(driver), "live values on the page")
        wait_for(lambda: session_time(driver) > first_t + 1.0, "the session clock to move on the page")
        wait_for(lambda: live_text(driver) != first_text, "the live values to change on the page")

        # Every car on the map, drawn where the page says, in its class colour.
        def map_ready() -> dict[str, Any] | None:
            state = driver.execute_script(MAP_DOTS, CAR)
            if not state or not state["dots"] or len(state["dots"]) < len(state["present"]):
                return None
            return state  # type: ignore[no-any-return]

        state = wait_for(map_ready, "every car drawn on the map", 30)
        assert state["source"] == "file"  # the demo circuit ships its outline
        assert len(state["present"]) >= 20  # the player and 19 opponents
        assert sorted(d["carIdx"] for d in state["dots"]) == sorted(state["present"])
        colours = {hex_rgb(d["colour"]) for d in state["dots"]}
        for dot in state["dots"]:
            red, green, blue, alpha = dot["pixel"]
            assert alpha > 0, f"nothing drawn where car {dot['carIdx']} is"
            nearest = min(colours, key=lambda c: sum(abs(a - b) for a, b in zip(c, (red, green, blue), strict=True)))
            assert sum(abs(a - b) for a, b in zip(nearest, (red, green, blue), strict=True)) < 140, dot
        assert sum(d["team"] for d in state["dots"]) == 1

        # The viewer has no engineer controls, and a handoff forged on its socket is refused.
        for control in ("handoff-form", "message-form", "approve-plan"):
            assert not driver.find_element("id", control).is_displayed(), control
        sent = driver.execute_script(
            "return pitbox.send('handoff_request', {action: 'request', car_id: arguments[0], to_driver: 'Mallory'},"
            " 'forged-1')",
            CAR,
        )
        assert sent == "forged-1"
        refusal = wait_for(
            lambda: driver.execute_script("return pitbox.errors.find(e => e.ref === 'forged-1') || null"),
            "the relay's answer to the forged handoff",
        )
        assert refusal["code"] == "forbidden"
        time.sleep(0.5)
        assert driver.execute_script("return pitbox.handoffs.size") == 0
        assert not [e for e in pipeline.snapshot() if isinstance(e, HandoffPrompt)]

        # A second team car: the picker offers it, and the page follows the car picked.
        with PipelineThread(relay, pairings["second car"], speed=3.0, seed=11):
            wait_for(lambda: len(Select(driver.find_element("id", "car-select")).options) == 2, "two cars to pick")
            Select(driver.find_element("id", "car-select")).select_by_value(str(SECOND_CAR))
            assert driver.execute_script("return pitbox.selected") == SECOND_CAR

            def shows_second_car() -> bool:
                text, second, first = driver.execute_script(
                    "const v = id => (pitbox.cars.get(id).live || {}).speed_mps;"
                    "return [document.getElementById('speed').textContent, v(arguments[0]), v(arguments[1])]",
                    SECOND_CAR,
                    CAR,
                )
                return second is not None and text == f"{second * 3.6:.0f}" != f"{(first or 0) * 3.6:.0f}"

            wait_for(shows_second_car, "the second car's live values on the page")
            Select(driver.find_element("id", "car-select")).select_by_value(str(CAR))
        shot(driver, artifacts_dir / "dashboard_viewer_desktop.png")
        driver.set_window_size(*PHONE)
        time.sleep(0.6)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page is {overflow} px wider than a phone"
        shot(driver, artifacts_dir / "dashboard_viewer_phone.png")
        driver.set_window_size(*DESKTOP)

        # --- the engineer signs in through the form
        driver.find_element("id", "sign-out").click()
        wait_for(lambda: driver.find_element("id", "pairing").is_displayed(), "the sign-in form")
        driver.find_element("id", "pairing").send_keys(pairings["engineer"])
        driver.find_element("css selector", "#sign-in-form button").click()
        wait_for(lambda: driver.execute_script("return pitbox.authenticated && pitbox.role === 'engineer'"), "engineer")
        assert driver.find_element("id", "handoff-form").is_displayed()
        driver.find_element("id", "handoff-to").send_keys("Bob")
        driver.find_element("id", "handoff-reason").send_keys("planned driver change")
        driver.find_element("id", "handoff-request").click()

        def prompt() -> HandoffPrompt | None:
            found = [e for e in pipeline.snapshot() if isinstance(e, HandoffPrompt) and e.status == "requested"]
            return found[-1] if found else None

        request = wait_for(prompt, "the handoff request to reach the driver's app")
        assert (request.to_driver, request.reason) == ("Bob", "planned driver change")
        status = f"#handoffs li[data-handoff-id='{request.handoff_id}'] .status"
        wait_for(lambda: text_of(driver, status) == "requested", "status requested on the page")
        pipeline.call(lambda p: p.answer_handoff(request.handoff_id, True))
        try:
            wait_for(lambda: text_of(driver, status) == "accepted", "status accepted on the page", 60)
        except AssertionError as exc:  # say where the answer got lost
            saved = relay.data_dir / "state.json"
            handoffs = json.loads(saved.read_text())["handoffs"] if saved.exists() else "no state saved"
            prompts = [e for e in pipeline.snapshot() if isinstance(e, HandoffPrompt)]
            raise AssertionError(f"{exc}; relay handoffs {handoffs}; driver prompts {prompts}") from exc
        # The relay proposes a stint plan once the car has laps; the engineer approves it.
        wait_for(lambda: driver.find_element("id", "approve-plan").is_enabled(), "a proposed stint plan", 90)
        assert "proposed" in text_of(driver, "#plan-status")
        driver.find_element("id", "approve-plan").click()
        wait_for(lambda: "approved" in text_of(driver, "#plan-status").replace("not approved", ""), "plan approved")
        assert text_of(driver, "#next-handoff").startswith("next handoff:")
        shot(driver, artifacts_dir / "dashboard_engineer_desktop.png")
        driver.set_window_size(*PHONE)
        time.sleep(0.6)
        shot(driver, artifacts_dir / "dashboard_engineer_phone.png")


def test_page_shows_stale_data_while_the_relay_is_cut_and_recovers_on_its_own(
    rig: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    relay, _pipeline, pairings = rig
    with pinned_browser(tmp_path, relay) as driver:
        open_signed_in(driver, relay, pairings["viewer"])
        wait_for(lambda: session_time(driver) > 0, "live telemetry", 30)
        wait_for(lambda: not driver.execute_script("return pitbox.stale"), "fresh data")
        before = session_time(driver)

        relay.kill()
        cut_at = time.monotonic()
        wait_for(lambda: driver.execute_script("return pitbox.stale"), "the page to call its data stale", 8)
        banner = driver.find_element("id", "stale-banner")
        assert banner.is_displayed() and "reconnecting" in banner.text.lower()
        assert "stale" in driver.find_element("css selector", ".live .stale-tag").text.lower()
        badge = driver.find_element("id", "connection").text.lower()
        assert badge in ("reconnecting", "offline") or badge.startswith("stale")
        shot(driver, artifacts_dir / "dashboard_stale.png")
        time.sleep(max(0.0, 10.0 - (time.monotonic() - cut_at)))
        assert driver.execute_script("return pitbox.stale")

        relay.start()
        wait_for(
            lambda: driver.execute_script("return pitbox.authenticated && pitbox.connects >= 2"),
            "the page to reconnect on its own",
            30,
        )
        wait_for(lambda: session_time(driver) > before + 1.0, "live data again after the cut", 40)
        wait_for(lambda: not driver.execute_script("return pitbox.stale"), "the stale warning to clear")
        assert not driver.find_element("id", "stale-banner").is_displayed()

        # Nothing was lost in the cut: laps come in, with the best lap's trace and the time lost per segment.
        def timing() -> dict[str, Any] | None:
            state = driver.execute_script(
                "const c = pitbox.cars.get(arguments[0]);"
                "return {rows: document.querySelectorAll('#lap-table tbody tr').length,"
                " best: c.best && c.best.lap, segments: c.segments && c.segments.loss_s.length,"
                " laps: c.laps ? c.laps.laps.map(l => l.lap) : []};",
                CAR,
            )
            return state if state["rows"] >= 2 and state["best"] and state["segments"] else None  # type: ignore[no-any-return]

        state = wait_for(timing, "laps, the best lap and the segment times on the page", 90)
        assert state["laps"] == list(range(state["laps"][0], state["laps"][0] + len(state["laps"])))  # no lap lost
        shot(driver, artifacts_dir / "dashboard_recovered.png")
        assert driver.execute_script("return pitbox.decodeErrors") == 0
