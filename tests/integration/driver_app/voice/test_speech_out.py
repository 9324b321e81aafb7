"""Speech out with real espeak-ng behind pyttsx3: a spotter call cuts a long message between two words
within 150 ms, a stale message never plays, and the copilot's calls go through the same player.

The player's output stream is what a sound card would pull: `ClockedSoundCard` calls the player
once per block in real time (this machine has no sound card; ALSA's null device is not clocked), and
the player's tap keeps every block. A last test opens the real PortAudio stream on ALSA's null device
in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coaching.messages import Call, Message, Priority
from driver_app.voice.errors import SpeechError
from driver_app.voice.player import MAX_CUT_DELAY_S, SpeechPlayer
from driver_app.voice.speech_out import VoiceSpeechSink
from driver_app.voice.tts import Speech, Synthesizer
from tests.support.voice_playback import ClockedSoundCard, null_device_home

pytestmark = [pytest.mark.integration]

LONG = (
    "Your fuel is fine for now, you have eleven laps of fuel left, the pit window opens on lap "
    "twenty four and the car behind is two point five seconds back and not closing"
)
OFFSETS_S = (0.31, 0.58, 0.94, 1.27, 1.66, 2.03, 2.41, 2.88, 3.35, 3.72)
"""Where in the long message the spotter call arrives (spread over words of every length)."""


@pytest.fixture(scope="module")
def synthesizer() -> Any:
    try:
        synth = Synthesizer()
    except SpeechError as exc:
        pytest.skip(f"no speech synthesiser: {exc}")
    yield synth
    synth.close()


def wait(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def event(player: SpeechPlayer, what: str, key: str) -> tuple[float, str, str, int] | None:
    return next((e for e in player.stats.events if e[1] == what and e[2] == key), None)


def play_and_interrupt(long: Speech, spotter: Speech, stale: Speech, offset_s: float) -> dict[str, Any]:
    player = SpeechPlayer(long.sample_rate, tap=True, max_queue_s=30.0)
    with ClockedSoundCard(player.fill, long.sample_rate) as card:
        player.play(long, key="regular")
        wait(lambda: event(player, "start", "regular") is not None)
        start = event(player, "start", "regular")
        assert start is not None
        start_frame = start[3]
        start_s = card.started_s + start_frame / long.sample_rate
        time.sleep(max(0.0, start_s + offset_s - time.monotonic()))
        injected = time.monotonic()
        player.play(spotter, urgent=True, key="spotter")
        player.play(stale, expires_s=injected + 0.05, key="stale")  # behind both: stale when its turn comes
        wait(lambda: not player.busy)
        time.sleep(0.05)
    rate = long.sample_rate
    stopped = event(player, "cut", "regular") or event(player, "end", "regular")
    assert stopped is not None
    cut = stopped[3] - start_frame  # samples of the long message that went out
    stream = np.concatenate([block for _, block, _ in player.tap or []])
    first_block = (player.tap or [])[0][0]
    spotter_start = event(player, "start", "spotter")
    position_at_injection = int((injected - start_s) * rate)
    window = long.word_starts[
        (long.word_starts >= position_at_injection)
        & (long.word_starts <= position_at_injection + MAX_CUT_DELAY_S * rate)
    ]
    tail = stream[stopped[3] - first_block - int(0.005 * rate) : stopped[3] - first_block]
    level = float(np.sqrt(np.mean(long.pcm.astype(np.float64) ** 2)))
    return {
        "stop_delay_s": card.started_s + stopped[3] / rate - injected,
        "cut": cut,
        "at_word_start": cut in set(long.word_starts.tolist()),
        "word_start_in_window": len(window) > 0,
        "tail_db": 20 * np.log10(max(float(np.sqrt(np.mean(tail.astype(np.float64) ** 2))), 1e-9) / level),
        "played_as_rendered": bool(
            np.allclose(
                stream[start_frame - first_block : start_frame - first_block + cut - int(0.005 * rate)],
                long.pcm[: cut - int(0.005 * rate)],
                atol=1e-6,
            )
        ),
        "spotter_follows_at": None if spotter_start is None else spotter_start[3] - stopped[3],
        "spotter_in_stream": bool(
            spotter_start is not None
            and np.allclose(
                stream[spotter_start[3] - first_block : spotter_start[3] - first_block + len(spotter.pcm)],
                spotter.pcm,
                atol=1e-6,
            )
        ),
        "stale_played": event(player, "start", "stale") is not None,
        "stale_dropped": player.stats.stale,
    }


def test_a_spotter_call_cuts_a_long_message_between_words_within_150_ms_and_a_stale_one_never_plays(
    synthesizer: Synthesizer, artifacts_dir: Path
) -> None:
    long = synthesizer.render(LONG)
    spotter = synthesizer.render("Car left")
    stale = synthesizer.render("Track temperature is thirty one degrees")
    assert long.duration_s > max(OFFSETS_S) + 1.0 and len(long.word_starts) >= 20
    results = [play_and_interrupt(long, spotter, stale, offset) for offset in OFFSETS_S]
    summary = [(round(r["stop_delay_s"] * 1000), r["at_word_start"], round(r["tail_db"])) for r in results]
    for result in results:
        assert result["stop_delay_s"] <= MAX_CUT_DELAY_S + 0.012, summary  # + one block of the card
        assert result["played_as_rendered"] and result["spotter_in_stream"], summary
        assert result["spotter_follows_at"] == 0, summary  # the next sample after the cut is the spotter's
        assert not result["stale_played"] and result["stale_dropped"] == 1, summary
        if result["word_start_in_window"]:
            assert result["at_word_start"], summary  # between two words, never inside one
        else:
            assert result["tail_db"] <= -15.0, summary  # a long word: its quietest point, faded out
    at_words = sum(r["at_word_start"] for r in results)
    figures = {"cuts": len(results), "at_word_start": at_words, "delay_ms_word_tail_db": summary}
    (artifacts_dir / "speech_cut_points.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    assert at_words >= len(results) * 0.6, figures


def copilot_call(text: str, priority: Priority, start_s: float, *, stale_s: float = 5.0) -> Call:
    message = Message(text, priority, "test", start_s, start_s + stale_s)
    return Call(message, start_s, 3, 100.0, start_s + message.speaking_s)


def test_the_copilots_calls_are_spoken_in_order_urgent_first_and_muting_silences_them(
    synthesizer: Synthesizer,
) -> None:
    player = SpeechPlayer(synthesizer.render("Box").sample_rate, tap=True)
    sink = VoiceSpeechSink(synthesizer, player, warm=("Car right",))
    sink.wait_until_warm()
    assert synthesizer.cached("Car right")
    with ClockedSoundCard(player.fill, player.sample_rate):
        sink.say(copilot_call("Brake a little later into turn one", Priority.REGULAR, 10.0))
        sink.say(copilot_call("Fuel for eleven laps", Priority.REGULAR, 10.1))
        wait(lambda: event(player, "start", "test:Brake a little later into turn one") is not None)
        sink.say(copilot_call("Car right", Priority.SPOTTER, 10.5))
        wait(lambda: not player.busy)
        sink.set_muted(True)
        sink.say(copilot_call("Pit window open", Priority.IMPORTANT, 11.0))
        time.sleep(0.2)
    started = [key for _, what, key, _ in player.stats.events if what == "start"]
    assert started == ["test:Brake a little later into turn one", "test:Car right", "test:Fuel for eleven laps"]
    assert not any("Pit window" in key for _, _, key, _ in player.stats.events)


def test_a_regular_message_that_does_not_fit_the_queue_is_refused(synthesizer: Synthesizer) -> None:
    long = synthesizer.render(LONG)
    player = SpeechPlayer(long.sample_rate, max_queue_s=long.duration_s * 1.5)
    assert player.play(long, key="one")
    assert not player.play(long, key="two")  # nobody wants to hear twenty seconds of backlog
    assert player.play(synthesizer.render("Car left"), urgent=True, key="spotter")  # urgent always fits
    assert player.stats.refused == 1


def test_bad_voice_and_rate_settings_are_refused_with_a_clear_error(synthesizer: Synthesizer) -> None:
    with pytest.raises(SpeechError, match="no voice"):
        synthesizer.configure(voice="klingon-warbird")
    with pytest.raises(SpeechError, match="outside 80..400"):
        synthesizer.configure(rate_wpm=1000)


PLAY_ON_NULL_DEVICE = """
import json, time
from driver_app.voice.player import SpeechPlayer
from driver_app.voice.tts import Synthesizer
synth = Synthesizer()
speech = synth.render("Box this lap")
player = SpeechPlayer(speech.sample_rate, tap=True)
player.open_output()
player.play(speech, key="box")
deadline = time.monotonic() + 10
while player.busy and time.monotonic() < deadline:
    time.sleep(0.01)
player.close()
synth.close()
frames = sum(len(block) for _, block, key in player.tap if "box" in key)
print(json.dumps({"events": [e[1] for e in player.stats.events], "frames": frames, "samples": len(speech.pcm)}))
"""


def test_the_real_output_stream_plays_a_phrase_on_alsas_null_device(synthesizer: Synthesizer, tmp_path: Path) -> None:
    home = null_device_home(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", PLAY_ON_NULL_DEVICE],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home)},
        cwd=Path(__file__).resolve().parents[4],
        check=False,
    )
    if "cannot open the sound output" in result.stderr:
        pytest.skip(f"PortAudio found no output even on ALSA's null device: {result.stderr.strip()[-200:]}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["events"] == ["start", "end"]
    assert report["frames"] >= report["samples"]
