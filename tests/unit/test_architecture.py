"""The import rules of ARCHITECTURE.md, checked statically over the source tree with `ast`.

One table, `RULES`, says which project modules and which third-party distributions each package may
import; `RESTRICTED` says where a few third-party names may appear at all; `SANS_IO` lists the stdlib
modules the pure packages must not use (rule 1: no sockets, threads or asyncio). Nothing is imported:
the checker reads source text, so a violation is caught even in a module no test imports.

To allow a new dependency, edit the table (and say why in ARCHITECTURE.md), not the checker.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STDLIB = frozenset(sys.stdlib_module_names)

SANS_IO = frozenset(
    {
        "asyncio",
        "socket",
        "socketserver",
        "selectors",
        "ssl",
        "threading",
        "_thread",
        "multiprocessing",
        "concurrent",
        "subprocess",
        "http",
        "urllib",
    }
)
"""Stdlib modules `adapters`, `coaching` and `strategy` may not import (ARCHITECTURE.md rule 1)."""


@dataclass(frozen=True, slots=True)
class PackageRule:
    """What the modules of one top-level package may import.

    `internal`: project modules, a name also covering its submodules ("adapters.model" allows
    "adapters.model.x"). `third_party`: top-level import names, or None for any. `banned_stdlib`:
    top-level stdlib names it may not import (every other stdlib module is allowed).
    """

    internal: tuple[str, ...]
    third_party: frozenset[str] | None
    banned_stdlib: frozenset[str] = frozenset()


RULES: dict[str, PackageRule] = {
    "adapters": PackageRule(
        internal=("adapters",),
        third_party=frozenset({"numpy", "yaml"}),
        banned_stdlib=SANS_IO,
    ),
    "coaching": PackageRule(
        # adapters.laps: lap splitting works on the canonical model only (sim-neutral, pure), and the
        # copilot must split laps exactly as the rest of PitBox does. yaml: the track-notes files.
        internal=("coaching", "adapters.model", "adapters.laps", "strategy"),
        third_party=frozenset({"numpy", "yaml"}),
        banned_stdlib=SANS_IO,
    ),
    "strategy": PackageRule(
        internal=("strategy", "adapters.model"),
        third_party=frozenset({"numpy"}),
        banned_stdlib=SANS_IO,
    ),
    "relay": PackageRule(
        # adapters.irsdk_layout / adapters.iracing_channels: the session recorder writes .ibt files with
        # the one declaration of that layout and channel mapping (pure tables, sim-neutral data formats).
        # adapters.laps: the dashboard's lap tables split laps exactly as the driver app does (pure).
        internal=(
            "relay",
            "adapters.model",
            "strategy",
            "adapters.irsdk_layout",
            "adapters.iracing_channels",
            "adapters.laps",
        ),
        # The relay's own dependencies: codec, WebSocket server/client, TLS and encryption at rest,
        # HTTP sink, MQTT sink, LAN discovery, the pairing QR code, config dirs, CLI.
        third_party=frozenset(
            {
                "numpy",
                "zstandard",
                "websockets",
                "aiohttp",
                "aiomqtt",
                "paho",
                "cryptography",
                "zeroconf",
                "segno",
                "platformdirs",
                "yaml",
                "rich",
            }
        ),
    ),
    "driver_app": PackageRule(
        internal=("driver_app", "adapters", "coaching", "strategy", "relay"),
        third_party=None,
    ),
    "installer": PackageRule(internal=("installer",), third_party=None),
}
"""Top-level package -> what its modules may import. Every top-level folder holding Python code
(other than `tests/`) must have a row."""

RESTRICTED: dict[str, tuple[str, ...]] = {
    # ARCHITECTURE.md rule 5: pyirsdk names never leave the iRacing adapter modules.
    "irsdk": ("adapters/iracing.py", "adapters/ibt.py", "adapters/iracing_session.py"),
    # Rule 2: Qt lives only in driver_app/.
    "PySide6": ("driver_app/",),
    "shiboken6": ("driver_app/",),
}
"""Third-party top-level name -> the only files (or folders, ending in "/") that may import it,
whatever `RULES` says. Tests are not checked for imports."""

PRINT_ALLOWED = ("tests/bench/",)
"""Folders whose modules may call print(), besides command-line modules (files named cli*.py)."""

UNCHECKED_IMPORTS = ("tests",)
"""Top-level folders whose imports are not checked (their print() calls are)."""

NOT_SOURCE = frozenset({"build", "dist", "node_modules"})


@dataclass(frozen=True, slots=True)
class Import:
    line: int
    module: str
    """The module imported, or for `from m import name` the candidate submodule `m.name`."""
    parent: str | None
    """For `from m import name`: `m` (the import is fine if either `m` or `m.name` is allowed)."""
    text: str


def _module_name(rel_path: str) -> str:
    parts = rel_path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(rel_path: str, tree: ast.AST) -> Iterator[Import]:
    package = _module_name(rel_path)
    if not rel_path.endswith("/__init__.py"):
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, None, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            dots = "." * node.level
            for alias in node.names:
                text = f"from {dots}{node.module or ''} import {alias.name}"
                if alias.name == "*":
                    yield Import(node.lineno, base, None, text)
                else:
                    yield Import(node.lineno, f"{base}.{alias.name}", base, text)


def _covered(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in allowed)


def _in(rel_path: str, places: tuple[str, ...]) -> bool:
    return any(rel_path.startswith(p) if p.endswith("/") else rel_path == p for p in places)


def _import_violation(rel_path: str, rule: PackageRule | None, imp: Import) -> str | None:
    top = imp.module.split(".")[0]
    where = f"{rel_path}:{imp.line}: `{imp.text}`"
    if top in RESTRICTED:
        if _in(rel_path, RESTRICTED[top]):
            return None
        return f"{where}: {top} may be imported only in {', '.join(RESTRICTED[top])}"
    if rule is None:
        return None
    package = rel_path.split("/")[0]
    if top in RULES or top in UNCHECKED_IMPORTS:
        if _covered(imp.module, rule.internal) or (imp.parent and _covered(imp.parent, rule.internal)):
            return None
        return f"{where}: {package}/ may import only {', '.join(rule.internal)} from the project"
    if top in STDLIB:
        if top in rule.banned_stdlib:
            return f"{where}: {package}/ is sans-I/O and may not import {top} (ARCHITECTURE.md rule 1)"
        return None
    if rule.third_party is None or top in rule.third_party:
        return None
    allowed = ", ".join(sorted(rule.third_party)) or "none"
    return f"{where}: {package}/ may not import the third-party {top} (allowed: {allowed})"


def _print_allowed(rel_path: str) -> bool:
    return rel_path.rsplit("/", 1)[-1].startswith("cli") or _in(rel_path, PRINT_ALLOWED)


def check_source(rel_path: str, source: str) -> list[str]:
    """Every rule violation in one module, given its path relative to the repository root."""
    try:
        tree = ast.parse(source, filename=rel_path)
    except SyntaxError as exc:
        return [f"{rel_path}:{exc.lineno}: does not parse: {exc.msg}"]
    violations: list[str] = []
    top = rel_path.split("/")[0]
    if top not in UNCHECKED_IMPORTS:
        rule = RULES.get(top)
        for imp in _imports(rel_path, tree):
            if (violation := _import_violation(rel_path, rule, imp)) is not None:
                violations.append(violation)
    if not _print_allowed(rel_path):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                violations.append(
                    f"{rel_path}:{node.lineno}: print() outside a command-line module "
                    "(log with logging.getLogger(__name__), or move it to a cli*.py module)"
                )
    return violations


def _source_folders() -> list[Path]:
    return sorted(
        path
        for path in REPO.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and path.name not in NOT_SOURCE
        and next(path.rglob("*.py"), None) is not None
    )


def _source_files() -> list[str]:
    return sorted(
        path.relative_to(REPO).as_posix()
        for folder in _source_folders()
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    )


def test_every_top_level_python_folder_has_a_rule() -> None:
    unruled = [p.name for p in _source_folders() if p.name not in RULES and p.name not in UNCHECKED_IMPORTS]
    if unruled:
        pytest.fail(f"add a row to RULES in {Path(__file__).name} for: {', '.join(unruled)}", pytrace=False)


def test_source_tree_follows_the_import_rules() -> None:
    files = _source_files()
    assert any(f.startswith("adapters/") for f in files), f"no sources found under {REPO}"
    violations = [v for f in files for v in check_source(f, (REPO / f).read_text(encoding="utf-8"))]
    if violations:
        pytest.fail("architecture rules broken:\n" + "\n".join(violations), pytrace=False)


# --- The checker itself: it must catch what it is for ------------------------------------------------

VIOLATIONS = [
    ("strategy/plan.py", "from PySide6.QtCore import QObject\n", "PySide6 may be imported only in"),
    ("relay/server.py", "import shiboken6\n", "shiboken6 may be imported only in"),
    ("installer/setup.py", "from PySide6 import QtWidgets\n", "PySide6 may be imported only in"),
    ("coaching/rules.py", "from relay import protocol\n", "coaching/ may import only"),
    ("coaching/brake/rule.py", "from ...relay.protocol import encode\n", "`from ...relay.protocol"),
    ("coaching/rules.py", "from adapters import base\n", "coaching/ may import only"),
    ("coaching/rules.py", "from adapters.ibt import read\n", "coaching/ may import only"),
    ("strategy/fuel.py", "import coaching.segments\n", "strategy/ may import only"),
    ("relay/core.py", "from driver_app import settings\n", "relay/ may import only"),
    ("adapters/model.py", "from strategy import fuel\n", "adapters/ may import only"),
    ("adapters/demo.py", "import irsdk\n", "irsdk may be imported only in"),
    ("driver_app/pipeline.py", "from irsdk import IRSDK\n", "irsdk may be imported only in"),
    ("strategy/fuel.py", "import threading\n", "sans-I/O"),
    ("coaching/spotter.py", "import asyncio\n", "sans-I/O"),
    ("adapters/udp.py", "from socket import socket\n", "sans-I/O"),
    ("coaching/rules.py", "import requests\n", "third-party requests"),
    ("adapters/model.py", "import pandas as pd\n", "third-party pandas"),
    ("relay/sinks.py", "import redis\n", "third-party redis"),
    ("strategy/fuel.py", "def f():\n    print('x')\n", "print() outside"),
    ("driver_app/tray.py", "print('hello')\n", "print() outside"),
    ("tests/support/sims.py", "print('x')\n", "print() outside"),
    ("coaching/broken.py", "def f(:\n", "does not parse"),
]

ALLOWED = [
    ("adapters/ibt.py", "import irsdk\n"),
    ("adapters/iracing.py", "from irsdk import IRSDK\n"),
    ("adapters/iracing_channels.py", "import numpy as np\nimport yaml\nfrom adapters.model import X\n"),
    ("adapters/__init__.py", "from . import model\nfrom .model import TelemetryFrame\n"),
    (
        "coaching/rules.py",
        "from __future__ import annotations\nimport math\nimport numpy as np\n"
        "from adapters.model import TelemetryFrame\nfrom adapters import model\n"
        "from strategy.fuel import burn\nfrom . import segments\nfrom .segments import Segment\n",
    ),
    ("strategy/fuel.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import adapters.model\n"),
    ("relay/server.py", "import asyncio\nimport websockets\nfrom relay.protocol import decode\n"),
    ("relay/cli.py", "import argparse\nprint('pitbox-relay 0.1.0')\n"),
    ("driver_app/cli_replay.py", "print('x')\n"),
    ("driver_app/tray.py", "from PySide6.QtWidgets import QApplication\nfrom adapters.ibt import read\n"),
    ("driver_app/pipeline.py", "import threading\nfrom relay.client import Client\nfrom coaching import x\n"),
    ("tests/unit/test_x.py", "import irsdk\nfrom PySide6 import QtCore\n"),
    ("tests/bench/bench_replay.py", "print('{}')\n"),
    ("driver_app/tray.py", "console.print('a method, not the builtin')\n"),
]


@pytest.mark.parametrize(("rel_path", "source", "expected"), VIOLATIONS)
def test_checker_catches(rel_path: str, source: str, expected: str) -> None:
    violations = check_source(rel_path, source)
    assert len(violations) == 1, violations
    assert violations[0].startswith(f"{rel_path}:"), violations
    assert expected in violations[0], violations


@pytest.mark.parametrize(("rel_path", "source"), ALLOWED)
def test_checker_allows(rel_path: str, source: str) -> None:
    assert check_source(rel_path, source) == []


def test_relative_imports_resolve_against_the_module_package() -> None:
    tree = ast.parse("from . import a\nfrom ..b import c\nfrom .. import d\n")
    modules = [imp.module for imp in _imports("coaching/rules/brake.py", tree)]
    assert modules == ["coaching.rules.a", "coaching.b.c", "coaching.d"]
    init_modules = [imp.module for imp in _imports("coaching/__init__.py", ast.parse("from .x import y\n"))]
    assert init_modules == ["coaching.x.y"]
