"""`pitbox probe --sim f1 [--listen HOST:PORT] [--duration S] [--count N] [--record FILE] [--json]`.

Listens for EA SPORTS F1 UDP telemetry and prints what arrives: one line per packet type the first
time it is seen (format, game version, frame, session time, player car), then the stream's counters
(packets by type, frames, lost, duplicates, unknown formats), the session and the newest frame as
`pitbox probe` prints them for iRacing. With `--json`, one JSON object at the end:
`{"source", "session", "frame", "on_track", "packets": {type: {"count", "header"}}, "stats", "events",
"recorded"}`. The address actually bound is written to stderr first ("listening on udp HOST:PORT"),
so `--listen 127.0.0.1:0` (any free port) can be used by scripts.

It stops after `--duration` seconds (default 5; 0: until Ctrl+C) or `--count` datagrams.
`--record FILE` writes every datagram to a PitBox UDP recording (`adapters.datagrams`), which
`pitbox replay FILE` reads. No F1 packet in that time is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.base import SessionChanged
from adapters.errors import AdapterError
from adapters.f1udp import DEFAULT_LISTEN, F1UdpAdapter
from adapters.f1udp_layouts import PacketId
from adapters.f1udp_packets import PacketHeader
from adapters.model import SessionInfo, TelemetryFrame, json_ready
from driver_app.cli_probe import PROG, ProbeResult, print_tables
from driver_app.udp_listener import UdpListener, parse_listen_address


@dataclass(slots=True)
class _Seen:
    source: str = ""
    newest: TelemetryFrame | None = None
    session: SessionInfo | None = None
    """The newest session description, even when a newer session has not sent its own yet."""
    kinds: set[PacketId] = field(default_factory=set)


def _header_line(kind: PacketId, header: PacketHeader) -> str:
    return (
        f"{kind.name.lower():<16} format {header.packet_format}  game {header.game_version}  "
        f"frame {header.frame_identifier}  session time {header.session_time_s:.3f} s  "
        f"player car {header.player_car_index}"
    )


async def _listen(adapter: F1UdpAdapter, listener: UdpListener, args: argparse.Namespace, seen: _Seen) -> None:
    try:
        await _receive(adapter, listener, args, seen)
    finally:
        adapter.close()  # in the loop, which owns the socket


async def _receive(adapter: F1UdpAdapter, listener: UdpListener, args: argparse.Namespace, seen: _Seen) -> None:
    console = Console(highlight=False)
    adapter.connect(time.monotonic())
    await listener.start()
    seen.source = listener.description  # the port actually bound
    print(f"{PROG}: listening on {seen.source}", file=sys.stderr, flush=True)
    duration = args.duration if args.duration > 0 else math.inf
    deadline = time.monotonic() + duration
    while (remaining := deadline - time.monotonic()) > 0:
        if args.count is not None and adapter.stats.datagrams >= args.count:
            break
        with contextlib.suppress(TimeoutError):  # wake at least twice a second to check the clock
            await asyncio.wait_for(listener.arrived.wait(), min(remaining, 0.5))
        now = time.monotonic()
        while (frame := adapter.read(now)) is not None:
            seen.newest = frame
        _note_sessions(adapter, seen)
        for kind, header in adapter.stream.last_headers.items():
            if kind not in seen.kinds:
                seen.kinds.add(kind)
                if not args.json:
                    console.print(_header_line(kind, header), markup=False, soft_wrap=True)
    adapter.stream.release_all()
    while (frame := adapter.stream.pop_frame()) is not None:
        seen.newest = frame
    _note_sessions(adapter, seen)


def _note_sessions(adapter: F1UdpAdapter, seen: _Seen) -> None:
    for event in adapter.drain_events():
        if isinstance(event, SessionChanged):
            seen.session = event.info


def _packets(adapter: F1UdpAdapter) -> dict[str, Any]:
    counts = adapter.stats.packets
    return {
        kind.name.lower(): {"count": counts.get(kind.name.lower(), 0), "header": header.to_dict()}
        for kind, header in sorted(adapter.stream.last_headers.items())
    }


def _print_summary(console: Console, adapter: F1UdpAdapter, result: ProbeResult) -> None:
    stats = adapter.stats
    table = Table(title="F1 packets")
    table.add_column("packet")
    table.add_column("count", justify="right")
    for name, count in sorted(stats.packets.items()):
        table.add_row(name, str(count))
    console.print(table)
    unknown = ", ".join(f"{fmt} ({count})" for fmt, count in sorted(stats.unknown_formats.items())) or "none"
    console.print(
        f"datagrams {stats.datagrams}, frames {stats.frames}, frames lost {stats.frames_lost}, "
        f"packets missing {stats.packets_missing}, duplicates {stats.duplicates}, late {stats.late}, "
        f"malformed {stats.malformed}, unknown formats: {unknown}",
        markup=False,
        soft_wrap=True,
    )
    for event in adapter.stream.events_seen:
        line = f"event {event.code} ({event.name}) at {event.session_time_s:.3f} s: {dict(event.details)}"
        console.print(line, markup=False, soft_wrap=True)
    print_tables(console, result)


def run_f1(args: argparse.Namespace) -> int:
    try:
        host, port = parse_listen_address(args.listen if args.listen is not None else DEFAULT_LISTEN)
    except ValueError as exc:
        print(f"{PROG}: --listen {exc}", file=sys.stderr)
        return 1
    listener = UdpListener(host, port)
    adapter = F1UdpAdapter(listener, record_to=args.record, started_unix_s=time.time())
    seen = _Seen()
    try:
        asyncio.run(_listen(adapter, listener, args, seen))
    except KeyboardInterrupt:
        pass  # Ctrl+C ends the listening; what arrived is still shown
    except AdapterError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        adapter.close()  # already closed in the loop, unless asyncio.run was interrupted first
    if args.record is not None:
        print(f"{PROG}: recorded {adapter.recorded} datagrams to {args.record}", file=sys.stderr)
    if not adapter.stream.last_headers:
        waited = "" if args.duration <= 0 else f" in {args.duration:g} s"
        print(
            f"{PROG}: no F1 telemetry arrived on {seen.source or listener.description}{waited} "
            "(is the game's UDP telemetry on, sending to this machine's address and port?)",
            file=sys.stderr,
        )
        return 1
    result = ProbeResult(seen.source, seen.session, seen.newest)
    if args.json:
        document = {
            **result.to_dict(),
            "packets": _packets(adapter),
            "stats": adapter.stats.to_dict(),
            "events": [
                {"code": e.code, "name": e.name, "session_time_s": e.session_time_s, "details": dict(e.details)}
                for e in adapter.stream.events_seen
            ],
            "recorded": adapter.recorded,
        }
        print(json.dumps(json_ready(document), allow_nan=False))
    else:
        _print_summary(Console(), adapter, result)
    return 0
