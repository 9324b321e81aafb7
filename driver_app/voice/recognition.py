"""Offline command recognition behind one interface: pocketsphinx with the command grammar (works out
of the box: its wheel carries an en-US model), or vosk restricted to the command phrases where a vosk
model is installed. Utterances come in as 16 kHz int16 from `UtteranceCapture` (padded, trimmed).

`install_model(path)` validates a downloaded vosk model (a folder or a .zip holding one) and copies
it into the user data directory, where `find_vosk_model` and `default_recognizer` find it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import platformdirs

from driver_app.voice.commands import Command, jsgf_grammar, parse_command, vosk_phrases
from driver_app.voice.errors import VoiceError

logger = logging.getLogger(__name__)

SAMPLE_RATE: Final = 16_000
MODEL_ENV: Final = "PITBOX_VOSK_MODEL"
REQUIRED_MODEL_PARTS: Final = (("am", "final.mdl"), ("conf", "model.conf"))
"""Files every vosk model has; its graph is `graph/HCLG.fst`, or `graph/HCLr.fst` with `graph/Gr.fst`."""


class ModelError(VoiceError):
    """A vosk model is missing, incomplete or cannot be loaded."""


@dataclass(frozen=True, slots=True)
class Recognition:
    text: str
    command: Command | None
    engine: str
    elapsed_s: float


class CommandRecognizer(Protocol):
    def recognize(self, utterance: npt.NDArray[np.int16]) -> Recognition: ...


class PocketsphinxRecognizer:
    """pocketsphinx decoding against the command grammar (JSGF). The decoder is built once."""

    engine = "pocketsphinx"

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise VoiceError(f"pocketsphinx is not installed ({exc})") from exc
        self._decoder = Decoder(lm=None, loglevel="FATAL")  # the grammar only, no dictation model
        self._decoder.add_jsgf_string("commands", jsgf_grammar())
        self._decoder.activate_search("commands")

    def recognize(self, utterance: npt.NDArray[np.int16]) -> Recognition:
        start = time.perf_counter()
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(np.ascontiguousarray(utterance, dtype="<i2").tobytes(), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        text = "" if hypothesis is None else str(hypothesis.hypstr)
        return Recognition(text, parse_command(text), self.engine, time.perf_counter() - start)


class VoskRecognizer:
    """vosk's `KaldiRecognizer` restricted to the command phrases; "[unk]" catches everything else."""

    engine = "vosk"

    def __init__(self, model_dir: Path) -> None:
        check_model(model_dir)
        try:
            import vosk
        except ImportError as exc:
            raise VoiceError(f"vosk is not installed ({exc})") from exc
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception when the model does not load
            raise ModelError(f"vosk could not load the model in {model_dir}: {exc}") from exc
        self._grammar = json.dumps([*vosk_phrases(), "[unk]"])

    def recognize(self, utterance: npt.NDArray[np.int16]) -> Recognition:
        import vosk

        start = time.perf_counter()
        recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, self._grammar)
        recognizer.AcceptWaveform(np.ascontiguousarray(utterance, dtype="<i2").tobytes())
        text = str(json.loads(recognizer.FinalResult()).get("text", ""))
        command = None if "[unk]" in text else parse_command(text)
        return Recognition(text, command, self.engine, time.perf_counter() - start)


def model_home() -> Path:
    return Path(platformdirs.user_data_dir("pitbox", appauthor=False)) / "vosk-model"


def find_vosk_model() -> Path | None:
    """`$PITBOX_VOSK_MODEL`, else the installed model, else None."""
    configured = os.environ.get(MODEL_ENV)
    for candidate in ([Path(configured)] if configured else []) + [model_home()]:
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
    missing = [str(Path(*part)) for part in REQUIRED_MODEL_PARTS if not (folder.joinpath(*part)).is_file()]
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
        children = [c for c in folder.iterdir() if c.is_dir()]
        if len(children) == 1:
            check_model(children[0])
            return children[0]
        raise


def install_model(source: Path, target: Path | None = None) -> Path:
    """Validate the vosk model in `source` (folder or .zip) and copy it to `target` (default: the
    user data directory), replacing an older one only once the new one is complete."""
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
        copied.rename(target)
    return target
