"""Push-to-talk while the sim has the focus, through the real input layers.

A wheel button goes through SDL2's joystick layer (pysdl2's bundled SDL): the tests attach SDL's
virtual wheel, the one part that stands in for hardware, and press its buttons; the watcher polls the
same API a real wheel is read through. A keyboard key goes through pynput's system-wide hook on the
X server the suite runs under (xvfb-run), with keys typed through XTest.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from driver_app.voice.talk_button import (
    ButtonProbe,
    JoystickBinding,
    JoystickWatcher,
    KeyBinding,
    KeyWatcher,
    TalkButtonError,
    sdl_joystick,
)
from tests.support import polling

pytestmark = [pytest.mark.integration]


wait_for = functools.partial(polling.wait_for, timeout_s=10.0, every_s=0.005)


class VirtualWheel:
    """SDL's virtual joystick: a 'wheel' with 16 buttons the test presses."""

    def __init__(self, sdl: Any) -> None:
        self.sdl = sdl
        self.index = sdl.SDL_JoystickAttachVirtual(sdl.SDL_JOYSTICK_TYPE_WHEEL, 3, 16, 0)
        assert self.index >= 0, sdl.SDL_GetError()
        self.handle = sdl.SDL_JoystickOpen(self.index)
        assert self.handle, sdl.SDL_GetError()

    def press(self, button: int, down: bool = True) -> None:
        assert self.sdl.SDL_JoystickSetVirtualButton(self.handle, button, int(down)) == 0

    def unplug(self) -> None:
        if self.handle:
            self.sdl.SDL_JoystickClose(self.handle)
            self.handle = None
            self.sdl.SDL_JoystickDetachVirtual(self.index)


@pytest.fixture
def sdl() -> Iterator[Any]:
    try:
        lib = sdl_joystick()
    except TalkButtonError as exc:
        pytest.skip(str(exc))
    assert lib.SDL_InitSubSystem(lib.SDL_INIT_JOYSTICK) == 0, lib.SDL_GetError()
    yield lib
    lib.SDL_QuitSubSystem(lib.SDL_INIT_JOYSTICK)


class Changes:
    def __init__(self) -> None:
        self.seen: list[bool] = []
        self.lock = threading.Lock()

    def __call__(self, pressed: bool) -> None:
        with self.lock:
            self.seen.append(pressed)

    def get(self) -> list[bool]:
        with self.lock:
            return list(self.seen)


def test_a_wheel_button_plugged_in_after_start_drives_push_to_talk(sdl: Any, caplog: pytest.LogCaptureFixture) -> None:
    changes = Changes()
    caplog.set_level(logging.INFO, "driver_app.voice.talk_button")
    watcher = JoystickWatcher(JoystickBinding(0, 5), changes)
    try:
        wait_for(lambda: "joystick 0 is not connected" in caplog.text, "the missing wheel to be reported")
        wheel = VirtualWheel(sdl)
        wait_for(lambda: watcher.device_name, "the wheel to be picked up")
        assert watcher.device_name == sdl.SDL_JoystickNameForIndex(wheel.index).decode()
        wheel.press(3)  # another button: nothing
        time.sleep(0.1)
        assert changes.get() == []
        wheel.press(5)
        wait_for(lambda: changes.get() == [True], "the press")
        time.sleep(0.1)  # held: no repeats
        assert changes.get() == [True]
        wheel.press(5, False)
        wait_for(lambda: changes.get() == [True, False], "the release")
        wheel.press(5)
        wait_for(lambda: changes.get() == [True, False, True], "the second press")
        wheel.unplug()  # pulled out mid-press: the capture must not stay open
        wait_for(lambda: changes.get() == [True, False, True, False], "the release on unplug")
        assert watcher.device_name is None
        assert "disconnected" in caplog.text
    finally:
        watcher.close()
        wheel.unplug()


def test_the_button_probe_names_the_setting_of_the_pressed_button(sdl: Any) -> None:
    wheel = VirtualWheel(sdl)
    probe = ButtonProbe()
    try:
        names = probe.joysticks()
        assert names[wheel.index] == sdl.SDL_JoystickNameForIndex(wheel.index).decode()
        assert probe.poll() == []
        wheel.press(7)
        presses = wait_for(probe.poll, "the press")
        assert [(p.joystick, p.button, p.setting) for p in presses] == [(wheel.index, 7, f"joy{wheel.index}:button7")]
        assert probe.poll() == []  # still held: reported once
    finally:
        probe.close()
        wheel.unplug()


def test_a_wheel_button_held_over_a_spoken_command_gets_it_recognised(sdl: Any) -> None:
    """Button -> listener -> capture -> recogniser, with the audio arriving in real time as from a microphone."""
    from driver_app.voice.audio import RECOGNIZER_RATE, resample
    from driver_app.voice.errors import VoiceError
    from driver_app.voice.listener import INPUT_BLOCK, VoiceListener
    from driver_app.voice.recognition import PocketsphinxRecognizer, Recognition
    from driver_app.voice.tts import Synthesizer

    try:
        synthesizer = Synthesizer()
        recognizer = PocketsphinxRecognizer()
    except VoiceError as exc:
        pytest.skip(f"no synthesiser or recogniser here: {exc}")
    try:
        speech = synthesizer.render("box this lap")
    finally:
        synthesizer.close()
    voice = resample(speech.pcm, speech.sample_rate, RECOGNIZER_RATE)
    heard: list[Recognition] = []
    listener = VoiceListener(recognizer, heard.append)
    wheel = VirtualWheel(sdl)
    watcher = JoystickWatcher(JoystickBinding(wheel.index, 2), listener.push_to_talk)
    try:
        wait_for(lambda: watcher.device_name, "the wheel")
        rng = np.random.default_rng(3)
        silence = (rng.standard_normal(int(0.6 * RECOGNIZER_RATE)) * 1e-3).astype(np.float32)
        mic = np.concatenate([silence, 0.5 * voice / np.abs(voice).max(), silence]).astype(np.float32)
        press_at, release_at = silence.size - INPUT_BLOCK * 10, silence.size + voice.size
        start = time.monotonic()
        for at in range(0, mic.size, INPUT_BLOCK):
            if at <= press_at < at + INPUT_BLOCK:
                wheel.press(2)
            if at <= release_at < at + INPUT_BLOCK:
                wheel.press(2, False)
            listener.feed(mic[at : at + INPUT_BLOCK])
            time.sleep(max(0.0, start + (at + INPUT_BLOCK) / RECOGNIZER_RATE - time.monotonic()))
        wait_for(lambda: heard, "the recognition")
        assert heard[0].command is not None and heard[0].command.intent == "box_this_lap", heard[0]
    finally:
        watcher.close()
        listener.close()
        wheel.unplug()


@pytest.fixture
def x_keyboard() -> Any:
    if not os.environ.get("DISPLAY"):
        pytest.skip("the system-wide key hook needs an X display here (make test runs under xvfb-run)")
    try:
        from pynput import keyboard
    except ImportError as exc:  # not installed (Linux: `make test` adds it where evdev compiles)
        pytest.skip(f"pynput is not usable here: {str(exc).splitlines()[0]}")
    return keyboard


def test_a_keyboard_key_is_seen_whichever_window_has_the_focus(x_keyboard: Any) -> None:
    changes = Changes()
    watcher = KeyWatcher(KeyBinding("F9"), changes)
    typist = x_keyboard.Controller()
    try:
        typist.press(x_keyboard.Key.f8)  # another key: nothing
        typist.release(x_keyboard.Key.f8)
        typist.press(x_keyboard.Key.f9)
        wait_for(lambda: changes.get() == [True], "the press")
        typist.press(x_keyboard.Key.f9)  # auto-repeat
        typist.release(x_keyboard.Key.f9)
        wait_for(lambda: changes.get() == [True, False], "the release")
        typist.press(x_keyboard.KeyCode.from_char("t"))
        typist.release(x_keyboard.KeyCode.from_char("t"))
        time.sleep(0.2)
        assert changes.get() == [True, False]
    finally:
        watcher.close()
