"""The push-to-talk control while the sim has the focus: a keyboard key or a wheel/button-box button.

PitBox's own window never has the focus on race night, so a Qt shortcut is not enough:

- a keyboard key (`F13`, `Space`, `A` ...) is watched system-wide through pynput (a low-level
  keyboard hook on Windows, the X RECORD extension on Linux); the key still reaches the sim;
- a wheel button (`joy0:button5`: joystick 0 in SDL's device order, button 5 counted from 0) is
  polled at 100 Hz through SDL2's joystick layer with background events allowed (SDL reads the
  device whichever window has the focus). A wheel unplugged mid-session is picked up again when it
  comes back.

Both call `on_change(pressed)` on a background thread, once per change (key auto-repeat and
duplicate hook events are dropped). `watch_talk_button` starts the right one for a settings value;
`ButtonProbe` tells a driver which joystick and button they pressed (`pitbox voice buttons`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from driver_app.voice.errors import VoiceError

logger = logging.getLogger(__name__)

POLL_S: Final = 0.01
"""Joystick polling period: a button press is seen within 10 ms (the capture keeps a pre-roll anyway)."""
RESCAN_S: Final = 2.0
"""How often a missing joystick is looked for again."""

_JOYSTICK = re.compile(r"^joy(?P<joystick>[0-9]{1,2}):button(?P<button>[0-9]{1,3})$")
_KEY = re.compile(r"^(F([1-9]|1[0-9]|2[0-4])|[A-Z0-9]|Space|CapsLock)$")


class TalkButtonError(VoiceError):
    """The push-to-talk binding is malformed, or its input (keyboard hook, joystick layer) cannot start."""


@dataclass(frozen=True, slots=True)
class KeyBinding:
    key: str
    """"F1".."F24", "A".."Z", "0".."9", "Space" or "CapsLock"."""


@dataclass(frozen=True, slots=True)
class JoystickBinding:
    joystick: int
    """Index in SDL's device order (what `pitbox voice buttons` shows)."""
    button: int
    """Button number, from 0."""


Binding = KeyBinding | JoystickBinding


def parse_binding(text: str) -> Binding | None:
    """The binding a settings value names (None for "": no talk button)."""
    text = text.strip()
    if not text:
        return None
    if match := _JOYSTICK.match(text):
        return JoystickBinding(int(match["joystick"]), int(match["button"]))
    if _KEY.match(text):
        return KeyBinding(text)
    raise TalkButtonError(
        f"push-to-talk {text!r} is neither a key (F1..F24, A..Z, 0..9, Space, CapsLock) "
        "nor a wheel button like joy0:button5"
    )


class ButtonState:
    """Turns a stream of pressed/released readings into changes: `update` returns the new state when
    it differs from the last one, else None (auto-repeat, a hook reporting one press twice); `set`
    also calls `on_change(pressed)` on a change."""

    def __init__(self, on_change: Callable[[bool], None] | None = None) -> None:
        self.pressed = False
        self.on_change = on_change
        self._lock = threading.Lock()

    def update(self, pressed: bool) -> bool | None:
        with self._lock:
            if pressed == self.pressed:
                return None
            self.pressed = pressed
            return pressed

    def set(self, pressed: bool) -> None:
        if self.update(pressed) is not None and self.on_change is not None:
            self.on_change(pressed)


class TalkButton(Protocol):
    """A running watcher; `close` stops it (a held button counts as released)."""

    @property
    def binding(self) -> Binding: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------ keyboard


def _pynput_keyboard() -> Any:
    try:
        from pynput import keyboard
    except ImportError as exc:  # no X display on Linux, or pynput missing
        raise TalkButtonError(f"no system-wide keyboard hook here ({str(exc).splitlines()[0]})") from exc
    return keyboard


def _pynput_key(keyboard: Any, name: str) -> Any:
    if name == "Space":
        return keyboard.Key.space
    if name == "CapsLock":
        return keyboard.Key.caps_lock
    if len(name) == 1:
        return keyboard.KeyCode.from_char(name.lower())
    return getattr(keyboard.Key, name.lower())


class KeyWatcher:
    """A keyboard key held anywhere on the desktop; see the module docstring."""

    def __init__(self, binding: KeyBinding, on_change: Callable[[bool], None]) -> None:
        keyboard = _pynput_keyboard()
        self.binding = binding
        self._state = ButtonState(on_change)
        self._listener: Any = keyboard.Listener(on_press=self._pressed, on_release=self._released)
        self._target = self._listener.canonical(_pynput_key(keyboard, binding.key))
        self._listener.daemon = True
        self._listener.start()
        self._listener.wait()  # the hook is in place when the constructor returns

    def _matches(self, key: Any) -> bool:
        return key is not None and self._listener.canonical(key) == self._target

    def _pressed(self, key: Any) -> None:
        if self._matches(key):
            self._state.set(True)

    def _released(self, key: Any) -> None:
        if self._matches(key):
            self._state.set(False)

    def close(self) -> None:
        self._listener.stop()
        self._listener.join(timeout=2)
        self._state.set(False)


# ------------------------------------------------------------------------------------------ joystick


def sdl_joystick() -> Any:
    """SDL2 (pysdl2 with its bundled library) with the joystick layer's background events allowed."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pysdl2 announces which SDL binary it loaded
            import sdl2
    except (ImportError, RuntimeError, OSError) as exc:
        raise TalkButtonError(f"no joystick support ({exc}); pip install pysdl2 pysdl2-dll") from exc
    sdl2.SDL_SetHint(sdl2.SDL_HINT_JOYSTICK_ALLOW_BACKGROUND_EVENTS, b"1")
    return sdl2


def _name(raw: bytes | None) -> str:
    """A joystick name as SDL returns it (bytes, or None when it has none)."""
    return (raw or b"?").decode(errors="replace")


class _Sdl:
    """The joystick subsystem held open by one thread (SDL counts `InitSubSystem` calls)."""

    def __init__(self) -> None:
        self.sdl = sdl_joystick()
        if self.sdl.SDL_InitSubSystem(self.sdl.SDL_INIT_JOYSTICK) != 0:
            raise TalkButtonError(f"SDL joystick layer failed: {self.sdl.SDL_GetError().decode(errors='replace')}")
        # Read by polling: queued joystick events would pile up with no event loop to drain them.
        self.sdl.SDL_JoystickEventState(self.sdl.SDL_IGNORE)

    def names(self) -> list[str]:
        self.sdl.SDL_JoystickUpdate()
        return [_name(self.sdl.SDL_JoystickNameForIndex(i)) for i in range(self.sdl.SDL_NumJoysticks())]

    def close(self) -> None:
        self.sdl.SDL_QuitSubSystem(self.sdl.SDL_INIT_JOYSTICK)


class JoystickWatcher:
    """A wheel or button-box button; see the module docstring. `device_name` is the joystick's name
    while it is connected (None while it is not)."""

    def __init__(self, binding: JoystickBinding, on_change: Callable[[bool], None]) -> None:
        self.binding = binding
        self.device_name: str | None = None
        self._state = ButtonState(on_change)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: TalkButtonError | None = None
        self._thread = threading.Thread(target=self._run, name="pitbox-talk-button", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            sdl = _Sdl()
        except TalkButtonError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        lib = sdl.sdl
        handle: Any = None
        next_scan = 0.0
        waited = 0.0
        warned = False
        try:
            while not self._stop.wait(POLL_S):
                waited += POLL_S
                lib.SDL_JoystickUpdate()
                if handle is not None and not lib.SDL_JoystickGetAttached(handle):
                    logger.warning("push-to-talk wheel %r disconnected", self.device_name)
                    lib.SDL_JoystickClose(handle)
                    handle, self.device_name = None, None
                    self._state.set(False)
                if handle is None:
                    if waited < next_scan:
                        continue
                    next_scan = waited + RESCAN_S
                    handle = self._open(lib, warned)
                    warned = True
                    continue
                self._state.set(bool(lib.SDL_JoystickGetButton(handle, self.binding.button)))
        finally:
            if handle is not None:
                lib.SDL_JoystickClose(handle)
            sdl.close()

    def _open(self, lib: Any, warned: bool) -> Any:
        index, button = self.binding.joystick, self.binding.button
        count = lib.SDL_NumJoysticks()
        if index >= count:
            if not warned:
                logger.warning("push-to-talk: joystick %d is not connected (%d found); waiting for it", index, count)
            return None
        handle = lib.SDL_JoystickOpen(index)
        if not handle:
            why = lib.SDL_GetError().decode(errors="replace")
            logger.warning("push-to-talk: cannot open joystick %d: %s", index, why)
            return None
        name = _name(lib.SDL_JoystickName(handle))
        buttons = lib.SDL_JoystickNumButtons(handle)
        if button >= buttons:
            logger.warning("push-to-talk: %s has buttons 0-%d, not %d", name, buttons - 1, button)
        self.device_name = name
        logger.info("push-to-talk on %s, button %d", name, button)
        return handle

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._state.set(False)


def watch_talk_button(setting: str, on_change: Callable[[bool], None]) -> TalkButton | None:
    """Start watching the control a `push_to_talk` setting names (None for ""); TalkButtonError if
    the setting is malformed or its input cannot be read on this machine."""
    binding = parse_binding(setting)
    if binding is None:
        return None
    if isinstance(binding, KeyBinding):
        return KeyWatcher(binding, on_change)
    return JoystickWatcher(binding, on_change)


# ------------------------------------------------------------------------------------------ set-up aid


@dataclass(frozen=True, slots=True)
class ButtonPress:
    joystick: int
    name: str
    button: int

    @property
    def setting(self) -> str:
        return f"joy{self.joystick}:button{self.button}"


class ButtonProbe:
    """Which joystick button goes down next: for setting push-to-talk up. Call `poll` repeatedly."""

    def __init__(self) -> None:
        self._sdl = _Sdl()
        self._handles: dict[int, Any] = {}
        self._down: dict[tuple[int, int], bool] = {}

    def joysticks(self) -> list[str]:
        """The connected joysticks' names, in the order `joyN` counts them."""
        return self._sdl.names()

    def poll(self) -> list[ButtonPress]:
        """The buttons that went down since the last call."""
        lib = self._sdl.sdl
        lib.SDL_JoystickUpdate()
        presses: list[ButtonPress] = []
        for index in range(lib.SDL_NumJoysticks()):
            handle = self._handles.get(index)
            if handle is None:
                handle = lib.SDL_JoystickOpen(index)
                if not handle:
                    continue  # tried again on the next poll
                self._handles[index] = handle
            for button in range(lib.SDL_JoystickNumButtons(handle)):
                down = bool(lib.SDL_JoystickGetButton(handle, button))
                if down and not self._down.get((index, button), False):
                    presses.append(ButtonPress(index, _name(lib.SDL_JoystickName(handle)), button))
                self._down[(index, button)] = down
        return presses

    def close(self) -> None:
        for handle in self._handles.values():
            if handle:
                self._sdl.sdl.SDL_JoystickClose(handle)
        self._handles.clear()
        self._sdl.close()
