"""Push-to-talk settings: keys and wheel buttons parse to bindings, anything else is refused with the
forms that work; a stream of readings becomes one change per press and release."""

from __future__ import annotations

import pytest

from driver_app.settings import SettingsError, validate
from driver_app.voice.talk_button import ButtonState, JoystickBinding, KeyBinding, TalkButtonError, parse_binding


@pytest.mark.parametrize(
    ("setting", "binding"),
    [
        ("F9", KeyBinding("F9")),
        ("F24", KeyBinding("F24")),
        ("Space", KeyBinding("Space")),
        ("CapsLock", KeyBinding("CapsLock")),
        ("T", KeyBinding("T")),
        ("7", KeyBinding("7")),
        ("joy0:button5", JoystickBinding(0, 5)),
        (" joy12:button127 ", JoystickBinding(12, 127)),
        ("", None),
    ],
)
def test_keys_and_wheel_buttons_parse_to_bindings(setting: str, binding: object) -> None:
    assert parse_binding(setting) == binding


@pytest.mark.parametrize("setting", ["F25", "F0", "ctrl+F9", "joy0", "joy:button5", "joy0:button", "button5", "tab"])
def test_other_settings_are_refused_naming_the_forms_that_work(setting: str) -> None:
    with pytest.raises(TalkButtonError, match=r"F1\.\.F24.*joy0:button5"):
        parse_binding(setting)
    with pytest.raises(SettingsError, match="push_to_talk"):
        validate({"push_to_talk": setting})


def test_settings_accept_what_the_watcher_accepts() -> None:
    assert validate({"push_to_talk": "joy1:button12"}).push_to_talk == "joy1:button12"
    assert validate({"push_to_talk": "F13"}).push_to_talk == "F13"


def test_repeated_readings_give_one_change_per_press_and_release() -> None:
    state = ButtonState()
    readings = [False, True, True, True, False, False, True, False]
    changes = [state.update(r) for r in readings]
    assert changes == [None, True, None, None, False, None, True, False]
