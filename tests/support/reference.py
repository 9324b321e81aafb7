"""Locate the real reference recordings (`../shared/data`, see its PROVENANCE.md) for tests.

The data lives outside the repository. `PITBOX_REFERENCE_DATA` names its folder; by default it is
`../shared/data` next to the repository root. A test that needs a file calls `reference_path(...)`,
which skips the test with a clear reason when the file is not there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import pytest

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
ENV_VAR: Final = "PITBOX_REFERENCE_DATA"


def reference_root() -> Path:
    """The reference-data folder: `$PITBOX_REFERENCE_DATA`, else `../shared/data` from the repo root."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


def reference_path(*parts: str) -> Path:
    """The path of one reference file or folder; skips the calling test when it is absent."""
    root = reference_root()
    path = root.joinpath(*parts)
    if not path.exists():
        where = f"${ENV_VAR}={root}" if os.environ.get(ENV_VAR) else f"{root} (set ${ENV_VAR} to move it)"
        pytest.skip(f"reference data {'/'.join(parts)} not found in {where}")
    return path
