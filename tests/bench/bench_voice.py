"""Voice latency: end of speech -> intent, and a message -> its first audio on the output stream.

Recognition: every command phrase is rendered by espeak-ng in two voices, resampled to 16 kHz and
fed, in 20 ms blocks at real time, through `VoiceListener` as a microphone would, the key released
at the end of the phrase; latency runs from the moment the capture's tail (the audio after the
release, kept so the last word survives) has arrived to the moment the intent is out. Baseline,
same run: the same utterances decoded by the pocketsphinx wheel's open language model (dictation),
which is what a recogniser without PitBox's grammar does.

Speech out: time from `VoiceSpeechSink.speak` to the message's first sample in the player's output
stream, pulled by a sound card clocked in real time (11.6 ms blocks): a cached spotter call, and a
message never rendered before (baseline: the uncached case).

    python tests/bench/bench_voice.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from benchutil import percentile, report  # noqa: E402

from driver_app.voice.audio import resample  # noqa: E402
from driver_app.voice.commands import example_phrases  # noqa: E402
from driver_app.voice.listener import VoiceListener  # noqa: E402
from driver_app.voice.player import SpeechPlayer  # noqa: E402
from driver_app.voice.recognition import PocketsphinxRecognizer, Recognition  # noqa: E402
from driver_app.voice.speech_out import VoiceSpeechSink  # noqa: E402
from driver_app.voice.tts import Synthesizer  # noqa: E402
from tests.support.voice_playback import ClockedSoundCard  # noqa: E402

RATE = 16_000
BLOCK = 320
VOICES = ("gmw/en-us", "gmw/en")


def pick_voices(synth: Synthesizer) -> list[str]:
    found = [v for v in VOICES if v in synth.voices]
    return found or synth.voices[:2]


def recognition_latency(synth: Synthesizer) -> tuple[list[float], int, int, list[np.ndarray]]:
    heard: list[tuple[float, Recognition]] = []
    listener = VoiceListener(PocketsphinxRecognizer(), lambda r: heard.append((time.perf_counter(), r)))
    latencies: list[float] = []
    right = total = 0
    utterances: list[np.ndarray] = []
    phrases = [(intent, p) for intent, examples in example_phrases().items() for p in examples[:1]]
    try:
        for voice in pick_voices(synth):
            synth.configure(voice=voice)
            for intent, phrase in phrases:
                speech = synth.render(phrase)
                pcm = resample(speech.pcm, speech.sample_rate, RATE).astype(np.float32)
                utterances.append(pcm)
                pressed = time.monotonic()
                listener.push_to_talk(True, pressed)
                for start in range(0, len(pcm), BLOCK):  # the phrase's audio, as fast as it comes
                    listener.feed(pcm[start : start + BLOCK])
                listener.push_to_talk(False, pressed + len(pcm) / RATE)  # released as it ends
                before = len(heard)
                silence = np.zeros(BLOCK, dtype=np.float32)
                end_of_audio = None
                deadline = time.perf_counter() + 10
                while len(heard) == before and time.perf_counter() < deadline:
                    listener.feed(silence)  # the microphone keeps delivering 20 ms blocks
                    if end_of_audio is None and not listener.capture.capturing:
                        end_of_audio = time.perf_counter()
                    time.sleep(BLOCK / RATE)
                if len(heard) > before and end_of_audio is not None:
                    done, recognition = heard[-1]
                    latencies.append(done - end_of_audio)
                    total += 1
                    right += recognition.command is not None and recognition.command.intent == intent
    finally:
        listener.close()
    return latencies, right, total, utterances


def dictation_baseline(utterances: list[np.ndarray]) -> list[float]:
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL")
    times = []
    for pcm in utterances:
        data = (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes()
        start = time.perf_counter()
        decoder.start_utt()
        decoder.process_raw(data, full_utt=True)
        decoder.end_utt()
        times.append(time.perf_counter() - start)
    return times


def first_audio(synth: Synthesizer, texts: list[str], *, cached: bool) -> list[float]:
    synth.configure(voice=pick_voices(synth)[0])
    sample_rate = synth.render("Clear").sample_rate
    player = SpeechPlayer(sample_rate, tap=True)
    sink = VoiceSpeechSink(synth, player, warm=texts if cached else ())
    sink.wait_until_warm()
    delays = []
    with ClockedSoundCard(player.fill, sample_rate):
        for i, text in enumerate(texts):
            key = f"m{i}"
            asked = time.monotonic()
            sink.speak(text, urgent=True, key=key)
            deadline = asked + 5
            while time.monotonic() < deadline:
                start = next((e for e in player.stats.events if e[1] == "start" and e[2] == key), None)
                if start is not None:
                    delays.append(start[0] - asked)
                    break
                time.sleep(0.0005)
            player.clear()  # the measurement is the start: let the phrase stop at its next word
            while player.busy:
                time.sleep(0.005)
    return delays


def main() -> int:
    synth = Synthesizer()
    try:
        latencies, right, total, utterances = recognition_latency(synth)
        baseline = dictation_baseline(utterances)
        spotter = ["Car left", "Car right", "Clear left", "Clear right", "Still there", "Three wide"] * 5
        cached = first_audio(synth, spotter, cached=True)
        fresh_texts = [f"Gap behind is {n} point {n % 10} seconds and closing" for n in range(11, 31)]
        uncached = first_audio(synth, fresh_texts, cached=False)
    finally:
        synth.close()
    ms = 1000.0
    rec_p50, rec_p99 = percentile(latencies, 0.5) * ms, percentile(latencies, 0.99) * ms
    base_p50 = percentile(baseline, 0.5) * ms
    cached_p50, cached_p99 = percentile(cached, 0.5) * ms, percentile(cached, 0.99) * ms
    fresh_p50, fresh_p99 = percentile(uncached, 0.5) * ms, percentile(uncached, 0.99) * ms
    print(f"recognition, {total} utterances through the microphone path ({right} right):")
    print(f"  end of audio -> intent: p50 {rec_p50:.1f} ms, p99 {rec_p99:.1f} ms")
    print(
        f"  baseline, pocketsphinx open dictation on the same audio: p50 {base_p50:.1f} ms "
        f"({base_p50 / max(rec_p50, 1e-6):.1f}x PitBox's p50)"
    )
    print("speech out, first audio on the output stream after speak():")
    print(f"  cached spotter call: p50 {cached_p50:.1f} ms, p99 {cached_p99:.1f} ms ({len(cached)} calls)")
    print(
        f"  uncached message:    p50 {fresh_p50:.1f} ms, p99 {fresh_p99:.1f} ms ({len(uncached)} messages; "
        f"cached is {fresh_p50 / max(cached_p50, 1e-6):.1f}x faster)"
    )
    met = rec_p99 <= 300.0 and cached_p99 <= 50.0
    report(
        "voice",
        {
            "recognition_p50_ms": round(rec_p50, 1),
            "recognition_p99_ms": round(rec_p99, 1),
            "recognition_right": right,
            "recognition_utterances": total,
            "dictation_baseline_p50_ms": round(base_p50, 1),
            "first_audio_cached_p50_ms": round(cached_p50, 1),
            "first_audio_cached_p99_ms": round(cached_p99, 1),
            "first_audio_uncached_p50_ms": round(fresh_p50, 1),
            "first_audio_uncached_p99_ms": round(fresh_p99, 1),
        },
        {"recognition_p99_ms": "<= 300", "first_audio_cached_p99_ms": "<= 50 (a spotter call)"},
        met,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
