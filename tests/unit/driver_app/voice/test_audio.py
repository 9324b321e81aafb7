"""The microphone path with synthetic audio: resampling keeps what it should and drops what it must,
and push-to-talk capture keeps the first and the last word (pre-roll and tail), ignores bumps and
auto-repeat, and hands over trimmed, padded 16 kHz int16."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from driver_app.voice.audio import (
    RECOGNIZER_RATE,
    UtteranceCapture,
    prepare_utterance,
    resample,
    speech_bounds,
    to_float32,
    to_int16,
)

CHUNK_S = 0.02


def tone(freq_hz: float, seconds: float, rate: int, amplitude: float = 0.5) -> npt.NDArray[np.float32]:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def rms(x: npt.ArrayLike) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def dominant_hz(x: npt.NDArray[np.float32], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


@pytest.mark.parametrize("rate_in", [8_000, 22_050, 44_100, 48_000])
def test_resampling_to_16k_keeps_a_tone_its_pitch_level_and_duration(rate_in: int) -> None:
    out = resample(tone(440.0, 1.0, rate_in), rate_in, RECOGNIZER_RATE)
    assert out.dtype == np.float32 and abs(out.size - RECOGNIZER_RATE) <= 1
    middle = out[1000:-1000]
    assert dominant_hz(middle, RECOGNIZER_RATE) == pytest.approx(440.0, abs=2.0)
    assert rms(middle) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_downsampling_removes_what_the_new_rate_cannot_hold_instead_of_aliasing_it() -> None:
    out = resample(tone(10_000.0, 1.0, 48_000), 48_000, RECOGNIZER_RATE)  # above the new 8 kHz Nyquist
    assert rms(out[1000:-1000]) < 0.5 * 10 ** (-60 / 20)


def test_same_rate_is_a_copy_and_int16_scales_and_clips() -> None:
    x = np.array([0.0, 0.5, -0.5], np.float32)
    assert np.array_equal(resample(x, 16_000, 16_000), x)
    assert to_int16(np.array([2.0, -2.0, 0.5])).tolist() == [32767, -32768, 16384]
    assert to_float32(np.array([-32768, 16384], np.int16)).tolist() == [-1.0, 0.5]
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 16_000)


def test_speech_bounds_find_the_loud_part_and_nothing_in_silence() -> None:
    rate = RECOGNIZER_RATE
    quiet = np.zeros(rate // 2, np.float32)
    x = np.concatenate([quiet, tone(300.0, 0.5, rate), quiet])
    first, last = speech_bounds(x, rate)  # type: ignore[misc]
    assert abs(first - rate // 2) <= 0.04 * rate and abs(last - rate) <= 0.04 * rate
    assert speech_bounds(quiet, rate) is None


def test_prepare_utterance_pads_levels_and_returns_empty_when_nothing_was_said() -> None:
    rate = RECOGNIZER_RATE
    x = np.concatenate([np.zeros(rate, np.float32), tone(300.0, 0.5, rate, 0.01), np.zeros(rate, np.float32)])
    out = prepare_utterance(x, rate, pad_s=0.2, margin_s=0.1)
    assert out.dtype == np.int16
    assert out.size == pytest.approx(rate * (0.5 + 2 * 0.1 + 2 * 0.2), abs=0.05 * rate)
    assert np.abs(out).max() > 0.5 * 32767  # a quiet talker is brought up to the recogniser's level
    assert np.abs(out[: int(0.15 * rate)]).max() < 0.02 * 32767  # the padding is near-silence
    assert prepare_utterance(np.zeros(rate, np.float32), rate).size == 0


class Mic:
    """Feeds a capture the way a sound-card callback does: fixed-size chunks, the key pressed in between."""

    def __init__(self, capture: UtteranceCapture, rate: int) -> None:
        self.capture = capture
        self.rate = rate
        self.t_s = 0.0
        self.utterances: list[npt.NDArray[np.int16]] = []

    def play(self, audio: npt.NDArray[np.float32], *, as_int16: bool = False) -> None:
        chunk = int(CHUNK_S * self.rate)
        for start in range(0, audio.size, chunk):
            block = audio[start : start + chunk]
            out = self.capture.feed(to_int16(block) if as_int16 else block)
            self.t_s += block.size / self.rate
            if out is not None:
                self.utterances.append(out)

    def key(self, pressed: bool) -> None:
        self.capture.push_to_talk(pressed, self.t_s)


def test_the_first_word_before_the_press_and_the_last_word_after_the_release_are_kept() -> None:
    rate = RECOGNIZER_RATE
    capture = UtteranceCapture(rate, pre_roll_s=0.3, tail_s=0.35, margin_s=0.05, pad_s=0.2)
    mic = Mic(capture, rate)
    mic.play(np.zeros(rate, np.float32))
    mic.play(tone(200.0, 0.2, rate))  # "pit": starts just before the key goes down
    mic.key(True)
    mic.play(tone(400.0, 0.5, rate))  # "stop add thirty five"
    mic.key(False)
    assert not mic.utterances  # the tail is still being captured
    mic.play(tone(800.0, 0.25, rate))  # "liters": said as the key came up
    mic.play(np.zeros(rate, np.float32))
    assert len(mic.utterances) == 1
    utterance = to_float32(mic.utterances[0])
    pad, margin = int(0.2 * rate), int(0.05 * rate)
    speech = utterance[pad + margin : -(pad + margin)]
    assert speech.size == pytest.approx(0.95 * rate, abs=0.05 * rate)
    assert dominant_hz(speech[: int(0.15 * rate)], rate) == pytest.approx(200, abs=15)
    assert dominant_hz(speech[-int(0.2 * rate) :], rate) == pytest.approx(800, abs=15)
    assert not capture.capturing


def test_a_48k_int16_microphone_gives_16k_utterances() -> None:
    rate = 48_000
    capture = UtteranceCapture(rate, margin_s=0.1, pad_s=0.1)
    mic = Mic(capture, rate)
    mic.play(np.zeros(rate // 2, np.float32), as_int16=True)
    mic.key(True)
    mic.play(tone(300.0, 1.0, rate), as_int16=True)
    mic.key(False)
    mic.play(np.zeros(rate, np.float32), as_int16=True)
    (utterance,) = mic.utterances
    assert utterance.size == pytest.approx(RECOGNIZER_RATE * (1.0 + 2 * 0.1 + 2 * 0.1), abs=0.06 * RECOGNIZER_RATE)


def test_a_bump_of_the_button_and_key_auto_repeat_do_not_make_utterances() -> None:
    rate = RECOGNIZER_RATE
    capture = UtteranceCapture(rate, min_press_s=0.15)
    mic = Mic(capture, rate)
    mic.key(True)
    mic.play(tone(300.0, 0.1, rate))
    mic.key(False)  # 100 ms: a bump
    mic.play(np.zeros(rate, np.float32))
    assert not mic.utterances and not capture.capturing
    mic.key(True)
    mic.play(tone(300.0, 0.3, rate))
    mic.key(True)  # auto-repeat while held
    mic.play(tone(300.0, 0.3, rate))
    mic.key(False)
    mic.key(False)
    mic.play(np.zeros(rate, np.float32))
    assert len(mic.utterances) == 1


def test_a_press_with_nothing_said_gives_an_empty_utterance_and_a_stuck_key_is_cut() -> None:
    rate = RECOGNIZER_RATE
    capture = UtteranceCapture(rate, max_s=2.0)
    mic = Mic(capture, rate)
    mic.key(True)
    mic.play(np.zeros(rate, np.float32))
    mic.key(False)
    mic.play(np.zeros(rate, np.float32))
    assert len(mic.utterances) == 1 and mic.utterances[0].size == 0
    mic.key(True)
    mic.play(tone(300.0, 5.0, rate))  # held far too long
    assert len(mic.utterances) == 2 and mic.utterances[1].size < 3 * RECOGNIZER_RATE
    assert not capture.capturing


def test_cancel_drops_the_utterance_being_captured() -> None:
    rate = RECOGNIZER_RATE
    capture = UtteranceCapture(rate)
    mic = Mic(capture, rate)
    mic.key(True)
    mic.play(tone(300.0, 0.5, rate))
    capture.cancel()
    mic.play(np.zeros(rate, np.float32))
    assert not mic.utterances and not capture.capturing
