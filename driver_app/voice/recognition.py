"""Offline command recognition behind one interface: pocketsphinx with the command grammar (works out
of the box: its wheel carries an en-US model), or vosk restricted to the command phrases where a vosk
model is installed. Utterances come in as 16 kHz int16 from `UtteranceCapture` (trimmed, padded).

A grammar decoder always answers with *some* path through the grammar, so pocketsphinx alone would
turn "I think it is going to rain later" into a command. `PocketsphinxRecognizer` therefore decodes
each utterance that parses a second time with an unconstrained phone loop, and keeps the command only
if the grammar path scores nearly as well as the best phone sequence (a likelihood ratio per frame,
`reject_below`). Measured on espeak-ng voices (tests/integration/driver_app/voice): 50 % of
unrelated sentences are rejected by the grammar alone (no full command), 95 % or more with the ratio.

`install_model(path)` validates a downloaded vosk model (a folder or a .zip holding one) and copies
it into the user data directory, where `find_vosk_model` and `default_recognizer` find it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import platformdirs

from driver_app.voice.audio import RECOGNIZER_RATE
from driver_app.voice.commands import Command, jsgf_grammar, parse_command, vosk_phrases
from driver_app.voice.errors import VoiceError

logger = logging.getLogger(__name__)

MODEL_ENV: Final = "PITBOX_VOSK_MODEL"
BUNDLED_MODEL_DIR: Final = "vosk-model"
"""Folder of a vosk model inside a packaged PitBox (the PyInstaller bundle's root)."""
REQUIRED_MODEL_PARTS: Final = (("am", "final.mdl"), ("conf", "model.conf"))
"""Files every vosk model (the layout vosk's `Model` reads) has; its decoding graph is
`graph/HCLG.fst` (a static graph: no grammar restriction), or `graph/HCLr.fst` with `graph/Gr.fst`."""

REJECT_BELOW: Final = -0.00195
"""Default rejection threshold of `PocketsphinxRecognizer`: log(grammar path score / phone-loop path
score) per 10 ms frame, as pocketsphinx reports path scores. Lower keeps more commands and lets more
unrelated speech through; see the module docstring for the measurements behind the value."""
MIN_EXPLAINED: Final = 0.8
"""Default share of the heard speech (phone-loop speech frames) a kept command's words must cover."""


class ModelError(VoiceError):
    """A vosk model is missing, incomplete or cannot be loaded."""


@dataclass(frozen=True, slots=True)
class Recognition:
    """What a recogniser made of one utterance.

    `text` is what the engine decoded (empty if nothing); `command` the command it parses to, or None
    when it is not one (or was rejected as unrelated speech); `elapsed_s` the time recognition took;
    `score` the engine's confidence where it has one (pocketsphinx: the likelihood ratio per frame).
    """

    text: str
    command: Command | None
    engine: str
    elapsed_s: float
    score: float | None = None


class CommandRecognizer(Protocol):
    """Turns one push-to-talk utterance (16 kHz mono int16) into a `Recognition`. Not thread-safe
    unless the implementation says so; `VoiceListener` calls it from its one worker thread."""

    def recognize(self, utterance: npt.NDArray[np.int16]) -> Recognition: ...


def _pocketsphinx_model() -> tuple[Path, Path]:
    """(acoustic model folder, dictionary) of the en-US model inside the pocketsphinx wheel."""
    try:
        import pocketsphinx
    except ImportError as exc:
        raise VoiceError(f"pocketsphinx is not installed ({exc})") from exc
    root = Path(pocketsphinx.get_model_path()) / "en-us"
    return root / "en-us", root / "cmudict-en-us.dict"


def pocketsphinx_dictionary() -> dict[str, str]:
    """The words of the pocketsphinx en-US dictionary -> their first pronunciation (ARPAbet)."""
    _, dictionary = _pocketsphinx_model()
    words: dict[str, str] = {}
    with dictionary.open(encoding="utf-8") as lines:
        for line in lines:
            word, _, phones = line.strip().partition(" ")
            if word and "(" not in word:
                words.setdefault(word, phones.strip())
    return words


_Segment = tuple[str, int, int]
"""(word or phone, first frame, last frame) of a pocketsphinx alignment."""


@dataclass(frozen=True, slots=True)
class _Decoded:
    text: str
    log_score: float
    """Natural log of the path score pocketsphinx reports (-inf when there is no path)."""
    frames: int
    segments: tuple[_Segment, ...]


def _is_filler(unit: str) -> bool:
    """Silence, noise and null units of either search ("<sil>", "[NOISE]", "(NULL)", "SIL", "+NSN+")."""
    return unit.startswith(("<", "[", "(", "+")) or unit == "SIL"


class PocketsphinxRecognizer:
    """pocketsphinx decoding against the command grammar (JSGF), with phone-loop rejection.

    A decoded command is kept only if (1) its path scores within `reject_below` per frame of the
    best unconstrained phone sequence, and (2) its words cover at least `min_explained` of the
    frames the phone loop hears as speech: unrelated sentences forced onto a short command leave
    much of their speech to the silence and noise fillers. `reject_below=None` turns both off.

    The decoder is built once (about 0.3 s) and reused; `recognize` is serialised by a lock, so the
    recogniser may be shared between threads.
    """

    engine = "pocketsphinx"

    def __init__(self, *, reject_below: float | None = REJECT_BELOW, min_explained: float = MIN_EXPLAINED) -> None:
        hmm, dictionary = _pocketsphinx_model()
        from pocketsphinx import Decoder

        self.reject_below = reject_below
        self.min_explained = min_explained
        self._lock = threading.Lock()
        try:
            # lm=None: the grammar only, no dictation model. bestpath=False: the lattice pass after
            # the Viterbi search often ended half way through the grammar ("box this" for "box this
            # lap"), losing the command; the Viterbi path itself ends in the grammar's final state.
            # The model's own feat.params stay in force (spectral noise removal and batch CMN): both
            # measured better than the alternatives.
            self._decoder: Any = Decoder(hmm=str(hmm), dict=str(dictionary), lm=None, bestpath=False, loglevel="FATAL")
            self._decoder.add_jsgf_string("commands", jsgf_grammar())
            self._decoder.add_allphone_file("phones", None)  # uniform phone loop: the "anything" model
        except (RuntimeError, ValueError) as exc:
            raise VoiceError(f"pocketsphinx could not load the command grammar: {exc}") from exc

    def recognize(self, utterance: npt.NDArray[np.int16]) -> Recognition:
        start = time.perf_counter()
        pcm = np.ascontiguousarray(utterance, dtype="<i2").tobytes()
        if not pcm:
            return Recognition("", None, self.engine, time.perf_counter() - start)
        with self._lock:
            grammar = self._decode("commands", pcm)
            command = parse_command(grammar.text)
            score: float | None = None
            if command is not None and self.reject_below is not None:
                phones = self._decode("phones", pcm)
                score = (grammar.log_score - phones.log_score) / max(grammar.frames, 1)
                explained = _explained(grammar, phones)
                if score < self.reject_below or explained < self.min_explained:
                    logger.debug("rejected %r (score %.5f, explained %.2f)", grammar.text, score, explained)
                    command = None
        return Recognition(grammar.text, command, self.engine, time.perf_counter() - start, score)

    def _decode(self, search: str, pcm: bytes) -> _Decoded:
        decoder = self._decoder
        decoder.activate_search(search)
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        frames = int(decoder.n_frames())
        hypothesis = decoder.hyp()
        if hypothesis is None:
            return _Decoded("", -math.inf, frames, ())
        score = float(hypothesis.score)
        segments = tuple((str(s.word), int(s.start_frame), int(s.end_frame)) for s in decoder.seg() or ())
        return _Decoded(str(hypothesis.hypstr), math.log(score) if score > 0.0 else -math.inf, frames, segments)


def _explained(grammar: _Decoded, phones: _Decoded) -> float:
    """Frames inside the command's words / frames the phone loop hears as speech (1.0 if none)."""
    speech = sum(end - first + 1 for unit, first, end in phones.segments if not _is_filler(unit))
    words = sum(end - first + 1 for unit, first, end in grammar.segments if not _is_filler(unit))
    return 1.0 if speech <= 0 else words / speech


class VoskRecognizer:
    """vosk's `KaldiRecognizer` restricted to the command phrases; "[unk]" catches everything else.

    Models with a static graph (`graph/HCLG.fst`, the large ones) cannot be restricted: vosk then
    decodes freely, and `parse_command` still accepts only a full command.
    """

    engine = "vosk"

    def __init__(self, model_dir: Path) -> None:
        check_model(model_dir)
        try:
            import vosk
        except ImportError as exc:
            raise VoiceError(f"vosk is not installed ({exc})") from exc
        vosk.SetLogLevel(-1)
        try:
            self._model: Any = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception when the model does not load
            raise ModelError(f"vosk could not load the model in {model_dir}: {exc}") from exc
        self._vosk: Any = vosk
        self._grammar = json.dumps([*vosk_phrases(), "[unk]"])
        self._lock = threading.Lock()

    def recognize(self, utterance: npt.NDArray[np.int16]) -> Recognition:
        start = time.perf_counter()
        pcm = np.ascontiguousarray(utterance, dtype="<i2").tobytes()
        if not pcm:
            return Recognition("", None, self.engine, time.perf_counter() - start)
        with self._lock:
            recognizer = self._vosk.KaldiRecognizer(self._model, RECOGNIZER_RATE, self._grammar)
            recognizer.AcceptWaveform(pcm)
            text = str(json.loads(recognizer.FinalResult()).get("text", ""))
        command = None if "[unk]" in text.split() else parse_command(text)
        return Recognition(text, command, self.engine, time.perf_counter() - start)


def model_home() -> Path:
    """Where `install_model` puts the vosk model: the user data directory's `pitbox/vosk-model`."""
    return Path(platformdirs.user_data_dir("pitbox", appauthor=False)) / "vosk-model"


def bundled_model() -> Path | None:
    """The model a packaged PitBox carries (`build.spec` adds one found at build time), else None."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / BUNDLED_MODEL_DIR if getattr(sys, "frozen", False) and bundle else None


def find_vosk_model() -> Path | None:
    """`$PITBOX_VOSK_MODEL` if it names a folder, else the installed model, else the one the package
    carries, else None."""
    configured = os.environ.get(MODEL_ENV)
    if configured and not Path(configured).is_dir():
        logger.warning("%s=%s is not a folder; ignored", MODEL_ENV, configured)
    bundled = bundled_model()
    for candidate in ([Path(configured)] if configured else []) + [model_home()] + ([bundled] if bundled else []):
        if candidate.is_dir():
            return candidate
    return None


def default_recognizer() -> CommandRecognizer:
    """vosk where a model is installed (and loads), else pocketsphinx."""
    model = find_vosk_model()
    if model is not None:
        try:
            return VoskRecognizer(model)
        except VoiceError as exc:
            logger.warning("vosk model not used: %s; falling back to pocketsphinx", exc)
    return PocketsphinxRecognizer()


def check_model(folder: Path) -> None:
    """Raise ModelError naming what is missing unless `folder` holds a vosk model."""
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder")
    missing = [str(Path(*part).as_posix()) for part in REQUIRED_MODEL_PARTS if not folder.joinpath(*part).is_file()]
    graph = folder / "graph"
    if not (graph / "HCLG.fst").is_file() and not ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst and graph/Gr.fst)")
    if missing:
        raise ModelError(f"{folder} is not a vosk model: it has no {', '.join(missing)}")


def _model_root(folder: Path) -> Path:
    """The model folder itself, or its single subfolder (zips usually hold `vosk-model-.../`)."""
    try:
        check_model(folder)
        return folder
    except ModelError:
        children = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith("__MACOSX")]
        if len(children) == 1:
            check_model(children[0])
            return children[0]
        raise


def install_model(source: Path, target: Path | None = None) -> Path:
    """Validate the vosk model in `source` (folder or .zip) and copy it to `target` (default:
    `model_home()`), replacing an older one only once the new one is complete.

    The copy is made next to `target` and renamed into place, so a failure (a bad zip, a full disk)
    leaves the installed model as it was. Raises ModelError with a message naming what is wrong.
    """
    target = target if target is not None else model_home()
    if not source.exists():
        raise ModelError(f"{source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".vosk-install-") as scratch:
        staging = Path(scratch)
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise ModelError(f"{source} is neither a folder nor a .zip")
            with zipfile.ZipFile(source) as archive:
                for member in archive.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise ModelError(f"{source} holds an unsafe path {member!r}")
                archive.extractall(staging / "unzipped")
            root = _model_root(staging / "unzipped")
        else:
            root = _model_root(source)
        copied = staging / "model"
        shutil.copytree(root, copied)
        old = staging / "old"
        if target.exists():
            target.rename(old)
        try:
            copied.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)  # put the previous model back
            raise
    logger.info("vosk model installed in %s", target)
    return target
