"""`pitbox-relay serve`'s video options: budgets and the upload limit in whole megabytes, video on by default."""

from __future__ import annotations

import pytest

from relay.cli import build_parser, main


def test_video_budgets_and_upload_limit_are_whole_positive_megabytes() -> None:
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.no_video, defaults.video_segments_mb, defaults.video_clips_mb) == (False, 2048, 1024)
    assert defaults.video_max_upload_mb == 256
    args = build_parser().parse_args(
        ["serve", "--video-segments-mb", "500", "--video-clips-mb", "100", "--video-max-upload-mb", "64", "--no-video"]
    )
    assert (args.video_segments_mb, args.video_clips_mb, args.video_max_upload_mb) == (500, 100, 64)
    assert args.no_video is True


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots"])
def test_a_bad_size_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--video-clips-mb", value]) == 2
    assert "--video-clips-mb" in capsys.readouterr().err
