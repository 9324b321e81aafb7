"""Video: the sim's screen captured, encoded to H.264 and kept, clipped and shared with the team.

    capture.py          what to capture (monitor, region, window by title) and grabbing it at a
                        steady rate in its own thread (mss; dxcam on Windows where installed)
    window_finder.py    a window's screen rectangle from its title (X11 over XCB, Win32)
    presets.py          named frame sizes and rates ("720p30": 1280x720 at 30 fps)
    encoder.py          the encoder chosen (NVENC, QSV, AMF, else libx264) and one
                        fragmented-MP4 segment file
    clockmap.py         capture time (monotonic) <-> the telemetry's session time
    replay_buffer.py    the last 60 s of segments on disk, within a byte budget
    telemetry_window.py the ring of recent telemetry frames and the JSON saved beside a clip
    overlay.py          speed, gear and inputs drawn onto clip frames (OpenCV)
    clips.py            a clip cut from the replay buffer and saved with its telemetry
    uploader.py         segments and clips PUT to the relay over pinned HTTPS, with retries
    config.py           `VideoConfig`: the settings of a recording
    recorder.py         `VideoRecorder`: the threads that tie these together

The pipeline owns a `VideoRecorder` while video is on (`Pipeline.set_video`); nothing here runs on
the pipeline's asyncio loop except the uploader, which only waits on the network there.
"""
