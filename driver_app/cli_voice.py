"""`pitbox voice ...`: the voice on this machine: install a vosk model, list sound devices, speak, check.

    pitbox voice install-model PATH_OR_ZIP   validate a downloaded vosk model and install it
    pitbox voice devices                     the sound outputs and inputs PortAudio sees
    pitbox voice say TEXT [--device D]       speak TEXT on an output (checks the synthesiser and card)
    pitbox voice check [PHRASE ...]          speak each command phrase with espeak-ng into the
                                             recogniser (no microphone needed) and show the intent
    pitbox voice voices                      the synthesiser's voices (for the speaking-voice setting)
    pitbox voice buttons [--seconds S]       list wheels and button boxes, then show the
                                             push-to-talk setting of each button pressed

A bad model folder, an unknown device or a missing synthesiser is one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from driver_app.voice.errors import VoiceError

PROG = "pitbox voice"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("voice", help="speech out and voice commands: models, devices, checks")
    sub = parser.add_subparsers(dest="voice_command", metavar="ACTION", required=True)
    install = sub.add_parser("install-model", help="install a downloaded vosk model (a folder or a .zip)")
    install.add_argument("path", type=Path)
    sub.add_parser("devices", help="list sound outputs and inputs")
    say = sub.add_parser("say", help="speak a sentence on a sound output")
    say.add_argument("text")
    say.add_argument("--device", help="output device name or number (default: the system's)")
    check = sub.add_parser("check", help="feed synthetic speech of command phrases to the recogniser")
    check.add_argument("phrases", nargs="*", help="phrases to try (default: one per command)")
    sub.add_parser("voices", help="list the speech synthesiser's voices")
    buttons = sub.add_parser("buttons", help="press wheel buttons to find the push-to-talk setting")
    buttons.add_argument("--seconds", type=float, default=30.0, help="how long to listen (default 30)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.voice_command == "install-model":
            return _install(args.path)
        if args.voice_command == "devices":
            return _devices()
        if args.voice_command == "say":
            return _say(args.text, args.device)
        if args.voice_command == "voices":
            return _voices()
        if args.voice_command == "buttons":
            return _buttons(args.seconds)
        return _check(args.phrases)
    except VoiceError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _install(path: Path) -> int:
    from driver_app.voice.recognition import install_model

    target = install_model(path)
    print(f"vosk model installed in {target}; PitBox uses it for voice commands from the next start")
    return 0


def _voices() -> int:
    from driver_app.voice.tts import Synthesizer

    synthesizer = Synthesizer()
    try:
        for voice in synthesizer.voices:
            print(voice)
    finally:
        synthesizer.close()
    return 0


def _buttons(seconds: float) -> int:
    from driver_app.voice.talk_button import ButtonProbe

    probe = ButtonProbe()
    try:
        names = probe.joysticks()
        if not names:
            print("no wheels or button boxes found (plug one in, then run this again)")
            return 1
        for index, name in enumerate(names):
            print(f"joy{index}: {name}")
        print(f"press the button you want for push-to-talk (listening {seconds:g} s, Ctrl+C to stop)")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for press in probe.poll():
                print(f"{press.name} button {press.button}: set push-to-talk to {press.setting}")
            time.sleep(0.01)
    except KeyboardInterrupt:
        return 0  # the driver found their button
    finally:
        probe.close()
    return 0


def _devices() -> int:
    try:
        import sounddevice
    except OSError as exc:
        raise VoiceError(f"PortAudio is missing ({exc}); on Linux: apt install libportaudio2") from exc
    devices = list(sounddevice.query_devices())
    if not devices:
        print("no sound devices")
    for index, device in enumerate(devices):
        kinds = [k for k, n in (("output", "max_output_channels"), ("input", "max_input_channels")) if device[n] > 0]
        print(f"{index}: {device['name']} ({', '.join(kinds)})")
    return 0


def _say(text: str, device: str | None) -> int:
    from driver_app.voice.player import SpeechPlayer
    from driver_app.voice.sound_device import device_setting
    from driver_app.voice.tts import Synthesizer

    synthesizer = Synthesizer()
    try:
        speech = synthesizer.render(text)
        player = SpeechPlayer(speech.sample_rate)
        player.open_output(None if device is None else device_setting(device))
        try:
            player.play(speech, key="say")
            deadline = time.monotonic() + speech.duration_s + 5
            while player.busy and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            player.close()
    finally:
        synthesizer.close()
    print(f"said {text!r} ({speech.duration_s:.1f} s)")
    return 0


def _check(phrases: list[str]) -> int:
    from driver_app.voice.audio import RECOGNIZER_RATE, resample
    from driver_app.voice.commands import example_phrases
    from driver_app.voice.listener import INPUT_BLOCK, VoiceListener
    from driver_app.voice.recognition import Recognition, default_recognizer
    from driver_app.voice.tts import Synthesizer

    said = phrases or [examples[0] for examples in example_phrases().values()]
    heard: list[Recognition] = []
    synthesizer = Synthesizer()
    listener = VoiceListener(default_recognizer(), heard.append)
    try:
        for phrase in said:
            speech = synthesizer.render(phrase)
            pcm = resample(speech.pcm, speech.sample_rate, RECOGNIZER_RATE)
            pressed = time.monotonic()
            listener.push_to_talk(True, pressed)
            for start in range(0, len(pcm), INPUT_BLOCK):  # 20 ms blocks, as a microphone delivers them
                listener.feed(pcm[start : start + INPUT_BLOCK])
            listener.push_to_talk(False, pressed + len(pcm) / RECOGNIZER_RATE)  # released as the phrase ends
            silence = [0.0] * INPUT_BLOCK
            before = len(heard)
            deadline = time.monotonic() + 10
            while len(heard) == before and time.monotonic() < deadline:
                listener.feed(silence)
                time.sleep(0.005)
            result = heard[-1] if len(heard) > before else None
            intent = "-" if result is None or result.command is None else result.command.intent
            print(f"{phrase!r:50} -> {intent} ({'' if result is None else result.text!r})")
    finally:
        listener.close()
        synthesizer.close()
    return 0
