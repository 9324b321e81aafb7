"""The driver app's settings: validation with clear messages, storage that survives damage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driver_app.settings import Settings, SettingsError, load_settings, save_settings, validate
from relay.auth import PairingInfo, encode_pairing

GOOD_PAIRING = encode_pairing(PairingInfo("192.168.1.20", 8765, "abc123.secretsecretsecret", "a" * 64))


def test_defaults_need_no_set_up_before_the_first_lap() -> None:
    settings = Settings()
    assert settings.pairing == "" and settings.adapter == "auto" and settings.verbosity == "normal"


def test_a_good_pairing_string_and_known_values_are_accepted() -> None:
    settings = validate(
        {"pairing": f"  {GOOD_PAIRING} ", "adapter": "demo", "verbosity": "coaching", "push_to_talk": "F13"}
    )
    assert settings.pairing == GOOD_PAIRING  # surrounding blanks from a paste are dropped
    assert (settings.adapter, settings.verbosity, settings.push_to_talk) == ("demo", "coaching", "F13")


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"pairing": "https://example.com/?t=x"}, "pairing", "not a pairing string"),
        ({"pairing": "pitbox://host:99999/?t=x&fp=" + "a" * 64}, "pairing", "pitbox-relay invite"),
        ({"adapter": "gran turismo"}, "adapter", "unknown sim"),
        ({"verbosity": "chatty"}, "verbosity", "quiet, normal, coaching"),
        ({"push_to_talk": "ctrl+alt+banana"}, "push_to_talk", "wheel button"),
        ({"voice_enabled": "yes"}, "voice_enabled", "true or false"),
        ({"speech_rate_wpm": 60}, "speech_rate_wpm", "between 80 and 400"),
        ({"speech_rate_wpm": "fast"}, "speech_rate_wpm", "whole number"),
        ({"speech_volume_pct": 250}, "speech_volume_pct", "between 0 and 200"),
        ({"speech_volume_pct": True}, "speech_volume_pct", "whole number"),
        ({"colour": "red"}, "colour", "not a setting"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_the_field(
    values: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        validate(values)
    assert set(caught.value.problems) == {field}
    assert words in caught.value.problems[field]


def test_speaking_voice_rate_and_volume_are_settings() -> None:
    settings = validate({"speech_voice": " gmw/en-gb-x-rp ", "speech_rate_wpm": 230, "speech_volume_pct": 60})
    assert (settings.speech_voice, settings.speech_rate_wpm, settings.speech_volume_pct) == ("gmw/en-gb-x-rp", 230, 60)


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        validate({"pairing": "nonsense", "verbosity": "loud"})
    assert set(caught.value.problems) == {"pairing", "verbosity"}


def test_settings_round_trip_through_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "pitbox" / "settings.json"
    settings = validate({"pairing": GOOD_PAIRING, "coach_muted": True})
    save_settings(settings, path)
    assert load_settings(path) == settings


def test_a_damaged_settings_file_is_set_aside_and_the_defaults_used(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"verbosity": "shouty"}))
    assert load_settings(path) == Settings()
    assert not path.exists() and (tmp_path / "settings.json.bad").exists()
    assert load_settings(tmp_path / "missing.json") == Settings()
