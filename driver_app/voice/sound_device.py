"""The sound card through PortAudio (sounddevice): the one way the voice opens a mono float32 stream.

`open_mono_stream` is what the speech player (output) and the listener (input) start; it raises
`AudioDeviceError` when PortAudio is missing or the device cannot be opened. `device_setting` turns a
settings or command-line value into the device argument PortAudio takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from driver_app.voice.errors import AudioDeviceError


def device_setting(name: str) -> int | str | None:
    """A settings value as a PortAudio device: "" the default, digits an index, else a name."""
    name = name.strip()
    if not name:
        return None
    return int(name) if name.isdigit() else name


def open_mono_stream(
    direction: Literal["input", "output"],
    device: int | str | None,
    *,
    sample_rate: int,
    block_frames: int,
    on_block: Callable[[npt.NDArray[np.float32]], None],
    what: str,
) -> Any:
    """Open and start a mono float32 stream on `device` (None: the system default); `on_block` gets each
    block's one channel on the audio thread (to read, or to fill). `what` names the device in errors."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:  # no PortAudio library
        raise AudioDeviceError(f"no sound library: {exc} (on Linux: apt install libportaudio2)") from exc
    stream_type = sounddevice.InputStream if direction == "input" else sounddevice.OutputStream

    def callback(data: Any, frames: int, time_info: Any, status: Any) -> None:
        on_block(data[:, 0])

    try:
        stream = stream_type(
            samplerate=sample_rate,
            channels=1,
            dtype="float32",
            blocksize=block_frames,
            device=device,
            callback=callback,
        )
        stream.start()
    except (sounddevice.PortAudioError, OSError, ValueError) as exc:
        raise AudioDeviceError(f"cannot open {what} {device!r}: {exc}") from exc
    return stream
