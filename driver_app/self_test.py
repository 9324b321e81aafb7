"""`pitbox --self-test`: checks that this installation (a PyInstaller bundle or a source checkout) can do
its work, and reports one line per check.

The checks, in order: every PitBox module and the third-party modules the app loads (some only on
demand, so a bundle that misses them would fail late), the data files (track files, the
dashboard's page), Qt (the native platform plugin loads; a QApplication starts and draws the
icon), the audio library (PortAudio), speech out (pyttsx3 renders a phrase), the command
recogniser (pocketsphinx's model and grammar load; vosk too when a model is installed), the video
encoder (PyAV encodes a few H.264 frames into fragmented MP4 and decodes them) and a relay round
trip on loopback (an in-process relay with TLS on a free port: connect, authenticate, send a team
message and get it back; the dashboard's page over HTTPS).

A check either passes, fails, or is skipped with the reason (a system library that is not there on
Linux, no vosk model installed). `run()` returns 0 only when no check failed. In a bundle, the
modules to import come from the list the build wrote (`MANIFEST`, see `bundle_manifest`), so a
module the build environment had and the bundle lacks is a failure, while an optional package that
was not installed (dxcam) is not. Nothing is written but temporary files and the report, if asked.
"""

from __future__ import annotations

import asyncio
import dis
import enum
import importlib
import importlib.util
import io
import json
import logging
import os
import pkgutil
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from driver_app.settings import DriverAppError

logger = logging.getLogger(__name__)

OWN_PACKAGES: Final = ("adapters", "coaching", "strategy", "relay", "driver_app")
PLATFORM_MODULES: Final = {
    "win32": ("pyttsx3.drivers.sapi5", "comtypes.client", "pynput.keyboard._win32"),
    "linux": ("pyttsx3.drivers.espeak", "pynput.keyboard._xorg"),
}
"""Modules libraries load by name on each platform (pyttsx3's driver, pynput's backend)."""
MANIFEST: Final = "self-test-modules.json"
"""In a bundle: the third-party modules the build environment had, which the bundle must carry
(written by build.spec with `bundle_manifest`)."""
WINDOWS_ONLY: Final = frozenset({"pynput", "comtypes", "pythoncom", "pywintypes", "win32com", "winreg", "winsound"})
"""Third-party packages PitBox depends on only on Windows (pyproject.toml's markers)."""
LINUX_SYSTEM_LIBRARIES: Final = {"sounddevice": ("portaudio",), "pyttsx3.drivers.espeak": ("espeak-ng", "espeak")}
"""Modules that load a system library on Linux: imported only where it is installed (the audio and
speech checks say when it is not)."""
PHRASE: Final = "Box this lap"
VIDEO_FRAMES: Final = 12
VIDEO_SIZE: Final = (320, 240)
RELAY_TIMEOUT_S: Final = 20.0
DASHBOARD_FILES: Final = ("index.html", "app.js", "style.css")


class SelfTestError(DriverAppError):
    """A self-test check found a problem (the message says which)."""


class CheckSkipped(SelfTestError):
    """A check cannot run here (the message says why); it does not count as a failure."""


class Status(enum.Enum):
    OK = "ok"
    FAILED = "FAILED"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    elapsed_s: float

    def line(self) -> str:
        """The report line: status, name, what was found (or why it failed / was skipped)."""
        return f"{self.status.value:<8} {self.name:<11} {self.detail} ({self.elapsed_s:.2f} s)"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: Callable[[], str]
    """Returns what it found (one line); raises CheckSkipped when it cannot run here, anything else fails."""


# ------------------------------------------------------------------------------------------ the checks


def own_modules(packages: Sequence[str] = OWN_PACKAGES) -> list[str]:
    """Every module of PitBox's packages (found the way the bundle stores them)."""
    names: list[str] = []
    for package in packages:
        module = importlib.import_module(package)
        names.append(package)
        names += [info.name for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}.")]
    return sorted(set(names))


def imported_by(modules: Iterable[str]) -> set[str]:
    """The absolute module names the code of `modules` imports anywhere, inside functions too.

    Read from the compiled code (what a bundle has), so imports made only when a feature starts
    (the sound library, the recogniser, the video encoder) are found before a driver needs them.
    """
    found: set[str] = set()

    def walk(code: types.CodeType) -> None:
        instructions = list(dis.get_instructions(code))
        for index, instruction in enumerate(instructions):
            # IMPORT_NAME follows LOAD_CONST level, LOAD_CONST fromlist; level 0 is an absolute import
            level = instructions[index - 2].argval if index >= 2 else 0
            if instruction.opname == "IMPORT_NAME" and level == 0:
                found.add(str(instruction.argval))
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                walk(constant)

    for name in modules:
        spec = importlib.util.find_spec(name)
        get_code = getattr(spec.loader, "get_code", None) if spec is not None else None
        code = get_code(name) if get_code is not None else None
        if code is not None:
            walk(code)
    return found


def third_party_modules(own: Sequence[str], platform: str = sys.platform) -> list[str]:
    """What PitBox's code imports from outside its packages and the standard library (a Windows-only
    dependency left out elsewhere), plus the modules libraries load by name on this platform."""
    wanted = set(PLATFORM_MODULES.get("linux" if platform.startswith("linux") else platform, ()))
    for name in imported_by(own):
        top = _top(name)
        if top in OWN_PACKAGES or top in sys.stdlib_module_names:
            continue
        if platform != "win32" and top in WINDOWS_ONLY:
            continue
        wanted.add(name)
    return sorted(wanted)


def bundle_manifest(own: Sequence[str] | None = None) -> list[str]:
    """The third-party modules a bundle built in this environment must carry: those PitBox uses that
    are installed here (an optional one, like dxcam, only where it is)."""
    return _installed_only(third_party_modules(own if own is not None else own_modules()))


def _installed_only(used: Iterable[str]) -> list[str]:
    """The modules of `used` whose package is installed here."""
    return [name for name in used if has_module(_top(name))]


def importable_here(name: str) -> bool:
    """False for a module that cannot import on this machine whatever the installation: pynput's X11
    backend without a display, a module whose system library is not installed (Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    if name.startswith("pynput.") and not os.environ.get("DISPLAY"):
        return False
    libraries = LINUX_SYSTEM_LIBRARIES.get(name)
    return libraries is None or _has_library(*libraries)


def _top(name: str) -> str:
    return name.partition(".")[0]


def _has_library(*names: str) -> bool:
    import ctypes.util

    return any(ctypes.util.find_library(name) for name in names)


def has_module(name: str) -> bool:
    """Whether `name` can be found here (without importing it; a missing parent package is no error)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_imports() -> str:
    own = own_modules()
    absent: list[str] = []
    bundle = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    if bundle is not None:
        try:
            expected = json.loads((Path(bundle) / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SelfTestError(f"the bundle's list of modules ({MANIFEST}) is unreadable: {exc}") from exc
        if not isinstance(expected, list) or not all(isinstance(name, str) for name in expected):
            raise SelfTestError(f"the bundle's list of modules ({MANIFEST}) is not a list of names")
    else:
        used = third_party_modules(own)
        expected = _installed_only(used)
        absent = sorted({_top(name) for name in used} - {_top(name) for name in expected})
    others = [name for name in expected if importable_here(name)]
    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pysdl2 announces its library, some packages deprecate things
        for name in [*own, *others]:
            _try_import(name, failures)
    if failures:
        total = len(own) + len(others)
        raise SelfTestError(f"{len(failures)} of {total} modules do not import: " + "; ".join(failures))
    note = f"; not installed here: {', '.join(absent)}" if absent else ""
    return f"{len(own)} PitBox modules and the {len(others)} modules they use import{note}"


def _try_import(name: str, failures: list[str]) -> None:
    try:
        importlib.import_module(name)
    except Exception as exc:  # any import failure is what this check reports
        failures.append(f"{name} ({type(exc).__name__}: {' '.join(str(exc).split())})")


def check_files() -> str:
    from adapters import demo_track
    from relay import web

    tracks = demo_track.tracks_dir()
    track_files = sorted(p.name for p in tracks.glob("*.json"))
    notes = sorted(p.name for p in tracks.glob("*.notes.yaml"))
    missing = [name for name in DASHBOARD_FILES if not (web.STATIC_DIR / name).is_file()]
    if not track_files:
        raise SelfTestError(f"no track files in {tracks}")
    if missing:
        raise SelfTestError(f"the dashboard lacks {', '.join(missing)} in {web.STATIC_DIR}")
    return f"{len(track_files)} track files, {len(notes)} track-guide notes, the dashboard page"


def check_qt() -> str:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QLibraryInfo, QPluginLoader
    from PySide6.QtWidgets import QApplication, QLabel

    from driver_app.cli_demo import has_display
    from driver_app.qt.tray import status_icon

    native = {"win32": "windows", "darwin": "cocoa"}.get(sys.platform, "xcb")
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    files = {_plugin_name(p): p for p in plugins.glob("*") if p.suffix in (".so", ".dll", ".dylib")}
    if native not in files:
        raise SelfTestError(f"no {native} platform plugin in {plugins} (found: {', '.join(sorted(files)) or 'none'})")
    loader = QPluginLoader(str(files[native]))
    if not loader.load():
        raise SelfTestError(f"the {native} platform plugin does not load: {loader.errorString()}")
    app = QApplication.instance()
    if app is None:
        wanted = os.environ.get("QT_QPA_PLATFORM") or (native if has_display() else "offscreen")
        # A list: if the wanted platform cannot start, Qt falls back instead of aborting the process.
        app = QApplication(["pitbox-self-test", "-platform", f"{wanted};offscreen"])
    platform = QApplication.platformName()
    icon = status_icon("driving").pixmap(32, 32)
    label = QLabel("PitBox")
    label.adjustSize()
    grabbed = label.grab()
    if icon.isNull() or grabbed.isNull():
        raise SelfTestError("Qt could not draw the icon or a widget")
    return f"PySide6 {pyside_version}, platform '{platform}', the {native} plugin loads ({len(files)} plugins)"


def _plugin_name(path: Path) -> str:
    """`libqxcb.so` / `qwindows.dll` -> `xcb` / `windows`."""
    stem = path.name.split(".")[0]
    stem = stem.removeprefix("lib")
    return stem.removeprefix("q")


def check_audio() -> str:
    try:
        import sounddevice
    except OSError as exc:
        if sys.platform.startswith("linux"):
            raise CheckSkipped(f"no PortAudio library on this system ({exc}): apt install libportaudio2") from exc
        raise
    devices = sounddevice.query_devices()
    name = str(sounddevice.get_portaudio_version()[1]).split(",")[0]
    return f"{name}, {len(devices)} sound devices"


def check_speech() -> str:
    if sys.platform.startswith("linux") and not _has_library(*LINUX_SYSTEM_LIBRARIES["pyttsx3.drivers.espeak"]):
        raise CheckSkipped("no espeak-ng on this system: apt install espeak-ng libespeak-ng1")
    from driver_app.voice.tts import Synthesizer

    synthesizer = Synthesizer()
    try:
        speech = synthesizer.render(PHRASE, timeout_s=20.0)
    finally:
        synthesizer.close()
    peak = float(np.max(np.abs(speech.pcm))) if len(speech.pcm) else 0.0
    if speech.duration_s < 0.2 or peak < 0.01:
        raise SelfTestError(f"{PHRASE!r} rendered to {speech.duration_s:.2f} s of near silence (peak {peak:.4f})")
    return (
        f"{PHRASE!r}: {speech.duration_s:.2f} s at {speech.sample_rate} Hz, {len(speech.word_starts)} word starts, "
        f"{len(synthesizer.voices)} voices"
    )


def check_recognizer() -> str:
    from driver_app.voice.audio import RECOGNIZER_RATE
    from driver_app.voice.recognition import PocketsphinxRecognizer

    recognizer = PocketsphinxRecognizer()
    result = recognizer.recognize(np.zeros(RECOGNIZER_RATE, dtype=np.int16))
    if result.command is not None:
        raise SelfTestError(f"silence was recognised as the command {result.command!r}")
    return "pocketsphinx en-US model and the command grammar load; silence is no command"


def check_vosk() -> str:
    from driver_app.voice.audio import RECOGNIZER_RATE
    from driver_app.voice.recognition import VoskRecognizer, find_vosk_model

    model = find_vosk_model()
    if model is None:
        raise CheckSkipped("no vosk model installed (`pitbox voice install-model` adds one)")
    recognizer = VoskRecognizer(model)
    recognizer.recognize(np.zeros(RECOGNIZER_RATE, dtype=np.int16))
    return f"the model in {model} loads"


def check_video() -> str:
    import av

    from driver_app.video.encoder import ENCODER_OPTIONS, FALLBACK, MOVFLAGS

    width, height = VIDEO_SIZE
    sources = [_test_picture(i, width, height) for i in range(VIDEO_FRAMES)]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4", options={"movflags": MOVFLAGS}) as output:
        stream = output.add_stream(FALLBACK, rate=30, options=ENCODER_OPTIONS[FALLBACK])
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for picture in sources:
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    data = buffer.getvalue()
    if b"moof" not in data:
        raise SelfTestError("the MP4 written is not fragmented (no moof box)")
    with av.open(io.BytesIO(data), mode="r") as source:
        decoded = [frame.to_ndarray(format="rgb24") for frame in source.decode(video=0)]
    if len(decoded) != VIDEO_FRAMES:
        raise SelfTestError(f"{VIDEO_FRAMES} frames encoded, {len(decoded)} decoded")
    error = max(float(np.mean(np.abs(a.astype(np.int16) - b))) for a, b in zip(decoded, sources, strict=True))
    if error > 12.0:
        raise SelfTestError(f"decoded frames differ from the encoded ones by {error:.1f} levels on average")
    return (
        f"PyAV {av.__version__}: {VIDEO_FRAMES} frames of {width}x{height} H.264 in {len(data)} bytes of "
        f"fragmented MP4, decoded (mean error {error:.1f})"
    )


def _test_picture(index: int, width: int, height: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A flat background with a bright bar that moves a little each frame."""
    picture = np.full((height, width, 3), (40, 90, 160), dtype=np.uint8)
    left = (index * 16) % (width - 48)
    picture[height // 3 : 2 * height // 3, left : left + 48] = (240, 220, 60)
    return picture


def check_relay() -> str:
    with tempfile.TemporaryDirectory(prefix="pitbox-self-test-") as folder:
        return asyncio.run(asyncio.wait_for(_relay_round_trip(Path(folder)), RELAY_TIMEOUT_S))


async def _relay_round_trip(folder: Path) -> str:
    import aiohttp
    from websockets.asyncio.client import connect

    from relay.auth import TokenStore
    from relay.protocol import Envelope, MessageType, Role, decode_message, encode_message
    from relay.server import RelayServer, ServerOptions
    from relay.spool import Spool
    from relay.tls import client_ssl_context, ensure_certificate, server_ssl_context

    store = TokenStore(folder / "tokens.json")
    _, token = store.invite("Self-test engineer", Role.ENGINEER, now_s=time.time())
    certificate = ensure_certificate(folder / "tls", ["127.0.0.1", "localhost"])
    spool = Spool(folder / "spool.sqlite3")
    options = ServerOptions(
        host="127.0.0.1",
        port=0,
        ssl_context=server_ssl_context(certificate),
        state_path=folder / "state.json",
        dashboard_port=0,
    )
    server = RelayServer(store, spool, options=options, relay_name="PitBox self-test")
    await server.start()
    url = server.url
    try:
        pin = certificate.fingerprint_sha256
        async with connect(url, ssl=client_ssl_context(pin), compression=None) as ws:
            hello = decode_message(await ws.recv())
            if hello.type is not MessageType.CONNECTION_ESTABLISHED:
                raise SelfTestError(f"the relay greeted with {hello.type.value}")
            await ws.send(encode_message(Envelope(MessageType.AUTHENTICATE, "st-auth", {"token": token})))
            request = Envelope(MessageType.TEAM_MESSAGE, "st-msg", {"text": "self-test", "priority": "normal"})
            echoed = None
            while echoed is None:
                reply = decode_message(await ws.recv())
                if reply.type is MessageType.AUTHENTICATION_RESULT:
                    if not reply.data.get("ok"):
                        raise SelfTestError("the relay refused the self-test's token")
                    await ws.send(encode_message(request))
                elif reply.type is MessageType.ERROR:
                    raise SelfTestError(f"the relay answered with an error: {reply.data.get('message')}")
                elif reply.type is MessageType.TEAM_MESSAGE and reply.data.get("text") == "self-test":
                    echoed = reply
        assert server.dashboard is not None
        connector = aiohttp.TCPConnector(ssl=client_ssl_context(pin))
        async with aiohttp.ClientSession(connector=connector) as session, session.get(server.dashboard.url) as page:
            body = await page.text()
            if page.status != 200 or "<html" not in body.lower():
                raise SelfTestError(f"the dashboard's page answered {page.status}")
    finally:
        await server.stop()
        spool.close()
    return (
        f"{url} with TLS: authenticated, team message {echoed.data.get('message_id')} "
        "came back; the dashboard's page over HTTPS"
    )


CHECKS: Final = (
    Check("imports", check_imports),
    Check("files", check_files),
    Check("qt", check_qt),
    Check("audio", check_audio),
    Check("speech", check_speech),
    Check("recognizer", check_recognizer),
    Check("vosk", check_vosk),
    Check("video", check_video),
    Check("relay", check_relay),
)


# ------------------------------------------------------------------------------------------ running them


def run_check(check: Check) -> CheckResult:
    """Run one check; whatever it raises becomes a failed result (with the traceback logged)."""
    start = time.perf_counter()
    try:
        detail = check.run()
        status = Status.OK
    except CheckSkipped as exc:
        detail, status = str(exc), Status.SKIPPED
    except Exception as exc:  # the self-test reports every failure instead of stopping
        logger.debug("check %s failed:\n%s", check.name, traceback.format_exc())
        detail = str(exc) if isinstance(exc, SelfTestError) else f"{type(exc).__name__}: {exc}"
        status = Status.FAILED
    return CheckResult(check.name, status, " ".join(detail.split()), time.perf_counter() - start)


def run_checks(
    checks: Iterable[Check] = CHECKS, on_result: Callable[[CheckResult], None] | None = None
) -> list[CheckResult]:
    results = []
    for check in checks:
        result = run_check(check)
        logger.info("%s", result.line())
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results


def run(
    version: str,
    *,
    report: Path | None = None,
    only: Sequence[str] = (),
    emit: Callable[[str], None] | None = None,
    checks: Sequence[Check] = CHECKS,
) -> int:
    """The `--self-test` command: run the checks (those named in `only`, or all), hand each report
    line to `emit` as it is ready (the CLI prints them), write them all to `report` when given (a
    windowed Windows executable has no console), and return 0 when none failed, 1 otherwise."""
    unknown = sorted(set(only) - {c.name for c in checks})
    if unknown:
        raise SelfTestError(f"no check named {', '.join(unknown)}; the checks: {', '.join(c.name for c in checks)}")
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        if emit is not None:
            emit(text)

    where = "bundle" if getattr(sys, "frozen", False) else "source"
    say(f"PitBox {version} self-test ({where}, {sys.platform})")
    results = run_checks([c for c in checks if not only or c.name in only], lambda result: say(result.line()))
    failed = [r.name for r in results if r.status is Status.FAILED]
    say(f"self-test FAILED: {', '.join(failed)}" if failed else "self-test passed")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if failed else 0
