"""The video settings: defaults that record 720p30, and a readable problem for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from driver_app.qt.app import video_config
from driver_app.settings import Settings, SettingsError, validate


def test_the_defaults_record_the_primary_monitor_at_720p30_in_4_s_segments(tmp_path: Path) -> None:
    config = video_config(Settings(), tmp_path / "video")
    config.check()
    assert (config.target, config.preset.name, config.segment_s) == ("", "720p30", 4.0)
    assert (config.clip_before_s, config.clip_after_s, config.upload, config.overlay) == (10.0, 10.0, "all", True)
    assert config.folder == tmp_path / "video"


def test_video_settings_are_taken_when_valid() -> None:
    settings = validate(
        {
            "video_target": "window:iRacing.com Simulator",
            "video_resolution": "1080p",
            "video_fps": 60,
            "video_segment_s": 2,
            "video_encoder": "h264_nvenc",
            "video_upload": "clips",
            "video_clip_before_s": 15,
        }
    )
    config = video_config(settings, Path("/tmp/v"))
    assert config.preset.name == "1080p60" and config.upload == "clips" and config.clip_before_s == 15.0
    assert config.target == "window:iRacing.com Simulator" and config.encoder == "h264_nvenc"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("video_target", "camera:2", "use monitor"),
        ("video_target", "region:0,0,10", "LEFT,TOP"),
        ("video_resolution", "4k", "720p"),
        ("video_fps", 120, "between 5 and 60"),
        ("video_segment_s", 0, "between 1 and 30"),
        ("video_encoder", "h265", "libx264"),
        ("video_upload", "some", "clips"),
        ("video_clip_after_s", 90, "between 0 and 60"),
    ],
)
def test_bad_video_settings_name_what_is_wrong(field: str, value: object, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        validate({field: value})
    assert words in caught.value.problems[field]
