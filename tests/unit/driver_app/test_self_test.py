"""The self-test's machinery: statuses, the report, the exit status, and which modules it imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from driver_app import self_test
from driver_app.self_test import Check, CheckSkipped, SelfTestError, Status


def _ok() -> str:
    return "all good"


def _skipped() -> str:
    raise CheckSkipped("no espeak-ng here")


def _broken() -> str:
    raise SelfTestError("the plugin is missing")


def _bug() -> str:
    return {}["missing"]  # type: ignore[no-any-return]


CHECKS = (Check("one", _ok), Check("two", _skipped), Check("three", _broken), Check("four", _bug))


def test_each_outcome_becomes_a_status_with_its_reason() -> None:
    results = {r.name: r for r in self_test.run_checks(CHECKS)}
    assert results["one"].status is Status.OK and results["one"].detail == "all good"
    assert results["two"].status is Status.SKIPPED and results["two"].detail == "no espeak-ng here"
    assert results["three"].status is Status.FAILED and results["three"].detail == "the plugin is missing"
    assert results["four"].status is Status.FAILED and results["four"].detail == "KeyError: 'missing'"
    assert results["three"].line().startswith("FAILED   three       the plugin is missing (")


def test_exit_status_is_zero_only_when_nothing_failed(tmp_path: Path) -> None:
    lines: list[str] = []
    report = tmp_path / "reports" / "self-test.txt"
    assert self_test.run("9.9", report=report, only=["one", "two"], emit=lines.append, checks=CHECKS) == 0
    assert lines[0].startswith("PitBox 9.9 self-test (source, ")
    assert [line.split()[:2] for line in lines[1:-1]] == [["ok", "one"], ["skipped", "two"]]
    assert lines[-1] == "self-test passed"
    assert report.read_text(encoding="utf-8").splitlines() == lines

    lines.clear()
    assert self_test.run("9.9", emit=lines.append, checks=CHECKS) == 1
    assert lines[-1] == "self-test FAILED: three, four"


def test_an_unknown_check_name_is_refused_with_the_names_there_are() -> None:
    with pytest.raises(SelfTestError, match="no check named nope; the checks: one, two, three, four"):
        self_test.run("9.9", only=["nope"], checks=CHECKS)


def test_the_real_checks_cover_what_the_bundle_must_carry() -> None:
    names = [check.name for check in self_test.CHECKS]
    assert names == ["imports", "files", "qt", "audio", "speech", "recognizer", "vosk", "video", "relay"]


def test_own_modules_are_every_module_of_the_packages() -> None:
    modules = self_test.own_modules()
    wanted = {"adapters.model", "coaching", "relay.cli", "relay.sinks.mqtt", "driver_app.qt.app", "driver_app.__main__"}
    assert wanted <= set(modules)


def test_imports_made_inside_functions_are_found() -> None:
    # driver_app.voice.sound_device imports sounddevice only when a device is opened
    found = self_test.imported_by(["driver_app.voice.sound_device", "driver_app.voice.recognition"])
    assert {"sounddevice", "vosk", "pocketsphinx"} <= found


def test_third_party_modules_follow_the_platform() -> None:
    own = self_test.own_modules()
    linux = set(self_test.third_party_modules(own, "linux"))
    windows = set(self_test.third_party_modules(own, "win32"))
    assert {"numpy", "PySide6.QtWidgets", "zstandard", "av", "sounddevice", "pyttsx3.drivers.espeak"} <= linux
    assert not any(name.partition(".")[0] in ("driver_app", "relay", "json", "comtypes") for name in linux)
    assert {name for name in linux if name.startswith("pynput")} == {"pynput.keyboard._xorg"}  # only the backend
    assert {"pynput.keyboard._win32", "pyttsx3.drivers.sapi5", "comtypes.client"} <= windows
    assert "pyttsx3.drivers.espeak" not in windows


def test_a_bundle_must_carry_only_what_this_environment_has(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(self_test, "third_party_modules", lambda own: ["numpy", "numpy.typing", "dxcam", "dxcam.x"])
    monkeypatch.setattr(self_test, "has_module", lambda name: name != "dxcam")  # an optional package not installed
    assert self_test.bundle_manifest(["driver_app"]) == ["numpy", "numpy.typing"]


def test_modules_that_cannot_import_on_this_machine_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(self_test.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(self_test, "_has_library", lambda *names: False)  # no PortAudio, no espeak-ng
    assert not self_test.importable_here("pynput.keyboard._xorg")
    assert not self_test.importable_here("sounddevice")
    assert not self_test.importable_here("pyttsx3.drivers.espeak")
    assert self_test.importable_here("numpy")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(self_test, "_has_library", lambda *names: True)
    assert self_test.importable_here("pynput.keyboard._xorg") and self_test.importable_here("sounddevice")
    monkeypatch.setattr(self_test.sys, "platform", "win32")
    monkeypatch.setattr(self_test, "_has_library", lambda *names: False)
    assert self_test.importable_here("sounddevice")  # Windows wheels carry their libraries


@pytest.mark.parametrize(
    ("file_name", "platform"),
    [("libqxcb.so", "xcb"), ("qwindows.dll", "windows"), ("libqoffscreen.so", "offscreen"), ("qcocoa.dylib", "cocoa")],
)
def test_platform_plugin_names(file_name: str, platform: str) -> None:
    assert self_test._plugin_name(Path(file_name)) == platform
