"""`pitbox setup`: the first-run set-up the Windows installer (or a script) does before PitBox first starts.

    pitbox setup --start-with-windows yes|no   start PitBox at log-on (the settings and the Run key)
    pitbox setup --pairing STRING              the team relay's pairing string (`pitbox-relay invite`)

Each option changes the saved settings (`driver_app.settings`), so the tray app finds them at its
first start; with none, the settings are printed (the pairing string's token is not). The Run key
follows the setting: the tray app rewrites it from the setting at every start, which is why the
installer sets the setting rather than the key. A bad value is one line on stderr and exit 1;
elsewhere than Windows, "start with Windows" is saved but has no effect.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from driver_app.settings import SettingsError, config_path, load_settings, save_settings, validate

PROG = "pitbox setup"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("setup", help="first-run set-up: start with Windows, the relay's pairing string")
    parser.add_argument(
        "--start-with-windows", choices=("yes", "no"), help="start PitBox (in the tray) when you sign in"
    )
    parser.add_argument("--pairing", metavar="STRING", help="the pairing string from `pitbox-relay invite`")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = config_path()
    current = load_settings(path)
    changes: dict[str, Any] = {}
    if args.start_with_windows is not None:
        changes["start_with_windows"] = args.start_with_windows == "yes"
    if args.pairing is not None:
        changes["pairing"] = args.pairing
    if not changes:
        shown = {**current.to_dict(), "pairing": "(set)" if current.pairing else ""}  # the token stays secret
        print(json.dumps({"settings": str(path), **shown}, indent=2))
        return 0
    try:
        settings = validate(changes, current)
    except SettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    try:
        save_settings(settings, path)
    except OSError as exc:
        print(f"{PROG}: cannot save the settings in {path}: {exc}", file=sys.stderr)
        return 1
    print(f"settings saved in {path}")
    if "start_with_windows" in changes:
        from driver_app.qt import autostart

        if not autostart.is_supported():
            print(f"start with Windows: saved; {autostart.UNSUPPORTED_REASON}")
        elif autostart.set_enabled(settings.start_with_windows):
            print(f"start with Windows: {'on' if settings.start_with_windows else 'off'}")
        else:
            print(f"{PROG}: could not update the Run key; PitBox sets it at its next start", file=sys.stderr)
    return 0
