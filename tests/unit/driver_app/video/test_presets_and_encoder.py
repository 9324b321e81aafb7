"""Presets, the encoder chosen, and segment files that decode on their own with the capture's timing."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from driver_app.video.encoder import FALLBACK, SegmentWriter, select_encoder
from driver_app.video.presets import PRESETS, preset_for
from tests.support.video_pattern import read_stamp, stamp_picture


def test_presets_name_a_size_and_a_rate() -> None:
    preset = PRESETS["720p30"]
    assert (preset.width, preset.height, preset.fps) == (1280, 720, 30)
    assert preset_for("1080p", 60).name == "1080p60"
    with pytest.raises(ValueError, match="720p"):
        preset_for("4k", 30)


@pytest.mark.parametrize(
    ("capture", "encoded"),
    [
        ((2560, 1440), (1280, 720)),  # scaled down into the box
        ((1280, 720), (1280, 720)),
        ((3440, 1440), (1280, 534)),  # ultrawide: the width fills the box, the aspect is kept
        ((640, 480), (640, 480)),  # never scaled up
        ((1001, 555), (1000, 554)),  # even sizes for 4:2:0
    ],
)
def test_a_capture_is_fitted_inside_the_preset_keeping_its_shape(
    capture: tuple[int, int], encoded: tuple[int, int]
) -> None:
    assert PRESETS["720p30"].fit(*capture) == encoded


def test_without_hardware_encoders_libx264_is_chosen() -> None:
    assert select_encoder("auto").name == FALLBACK  # this machine has no GPU encoder
    assert select_encoder("h264_nvenc").name == FALLBACK  # asked for one that is absent: the fallback
    assert select_encoder("libx264").options["preset"] == "ultrafast"


def test_a_segment_starts_with_a_keyframe_and_keeps_the_capture_spacing(tmp_path: Path) -> None:
    encoder = select_encoder("auto")
    writer = SegmentWriter(tmp_path / "seg.mp4", encoder, 640, 360, 30, max_bitrate=2_000_000)
    times = 100.0 + np.arange(60) / 30
    times[30:] += 0.1  # a late grab: a longer frame, not a faster clock
    for i, t in enumerate(times):
        writer.add(stamp_picture(1000 + i, 1280, 720), float(t))  # scaled 2:1 on the way in
    written = writer.close()
    assert written.frames == 60 and written.bytes > 0 and (written.width, written.height) == (640, 360)
    with av.open(str(written.path)) as container:
        decoded = list(container.decode(video=0))
    assert decoded[0].key_frame
    pts = np.array([f.pts for f in decoded]) * float(decoded[0].time_base)
    assert pts == pytest.approx(times - times[0], abs=1e-4)
    assert [read_stamp(f.to_ndarray(format="bgr24")) for f in decoded] == list(range(1000, 1060))
