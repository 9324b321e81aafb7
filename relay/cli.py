"""`pitbox-relay`: the relay's command line: serve, invite, revoke, handoff, message, status.

Everything lives in one data directory (default: the platform's user data directory, e.g.
`~/.local/share/pitbox-relay`; `--data-dir` to change it): the token store, the TLS certificate,
the spool, the relay's state and `runtime.json` (where the running relay listens), which the
`handoff`, `message` and `status` commands use to reach it on this machine. Errors are one line
on stderr and exit status 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
import urllib.parse
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import platformdirs

from relay.auth import PairingInfo, TokenStore, encode_pairing, pairing_qr_text
from relay.errors import RelayError
from relay.protocol import Envelope, MessageType, ProtocolError, Role, decode_message, encode_message
from relay.video_store import DEFAULT_CLIP_BUDGET_BYTES, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_SEGMENT_BUDGET_BYTES, MIB

PROG = "pitbox-relay"
DEFAULT_PORT = 8765
CLI_USER = "pitbox-relay cli"
logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("pitbox")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pitbox-relay", appauthor=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="PitBox team relay: receives the drivers' telemetry and serves it to the team.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    parser.add_argument("--data-dir", type=Path, default=None, help="tokens, certificate, spool and state")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the relay")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: every interface)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--insecure", action="store_true", help="plain ws:// without TLS (allowed on loopback without this flag)"
    )
    serve.add_argument("--name", default=socket.gethostname(), help="name shown to clients and on the LAN")
    serve.add_argument("--no-advertise", action="store_true", help="do not announce the relay on the LAN (zeroconf)")
    serve.add_argument("--http-url", help="forward everything to this cloud HTTP endpoint")
    serve.add_argument("--http-token-env", default="PITBOX_HTTP_TOKEN", help="environment variable with its token")
    serve.add_argument("--mqtt", metavar="HOST:PORT", help="forward everything to this MQTT broker")
    serve.add_argument("--mqtt-team", default="team")
    serve.add_argument("--mqtt-session", default="session")
    serve.add_argument("--mqtt-mode", choices=("pitbox", "crewchief"), default="pitbox")
    serve.add_argument("--crewchief-driver", default="driver")
    serve.add_argument("--crewchief-track", default="track")
    serve.add_argument("--crewchief-car", default="car")
    serve.add_argument("--crewchief-sessiontype", default="Practice")
    serve.add_argument("--crewchief-car-id", type=int, help="the car whose driver gets the coaching replies")
    serve.add_argument("--no-record", action="store_true", help="do not record sessions to .ibt files")
    serve.add_argument(
        "--dashboard-port", type=int, help="port of the team dashboard in the browser (default: the relay's + 1)"
    )
    serve.add_argument("--no-dashboard", action="store_true", help="do not serve the team dashboard")
    serve.add_argument(
        "--no-video", action="store_true", help="do not accept the drivers' video (segments and clips) on the dashboard"
    )
    serve.add_argument(
        "--video-segments-mb",
        type=_megabytes,
        default=DEFAULT_SEGMENT_BUDGET_BYTES // MIB,
        help="MB of rolling video segments kept (default %(default)s)",
    )
    serve.add_argument(
        "--video-clips-mb",
        type=_megabytes,
        default=DEFAULT_CLIP_BUDGET_BYTES // MIB,
        help="MB of clips and their telemetry kept (default %(default)s)",
    )
    serve.add_argument(
        "--video-max-upload-mb",
        type=_megabytes,
        default=DEFAULT_MAX_UPLOAD_BYTES // MIB,
        help="largest video upload (default %(default)s)",
    )
    serve.add_argument("--spool-key-env", default="PITBOX_SPOOL_KEY", help="variable with a 64-hex-digit key")

    invite = sub.add_parser("invite", help="make a pairing string for a driver, engineer or viewer")
    invite.add_argument("--role", choices=[r.value for r in Role], required=True)
    invite.add_argument("--name", required=True)
    invite.add_argument("--car", type=int, help="the car a driver publishes (drivers only)")
    invite.add_argument("--host", help="address clients use to reach this relay (default: this machine's)")
    invite.add_argument("--port", type=int, help="port (default: the running relay's, else 8765)")
    invite.add_argument("--insecure", action="store_true", help="a pairing string for a relay without TLS")
    invite.add_argument("--no-qr", action="store_true", help="print the pairing string only")

    revoke = sub.add_parser("revoke", help="revoke the invites of a name, or one invite by its id")
    revoke.add_argument("who", help="name or token id")

    handoff = sub.add_parser("handoff", help="ask a car's driver to hand over to another driver")
    handoff.add_argument("--to", required=True, dest="to_driver", help="the driver who takes over")
    handoff.add_argument("--car", type=int, required=True)
    handoff.add_argument("--reason", default="")
    handoff.add_argument("--urgency", choices=("low", "normal", "high"), default="normal")

    message = sub.add_parser("message", help="send a team message")
    message.add_argument("text")
    message.add_argument("--priority", choices=("low", "normal", "high", "urgent"), default="normal")
    message.add_argument("--to", default="all")

    sub.add_parser("status", help="is the relay running, what is waiting to be forwarded, open handoffs")
    return parser


# ------------------------------------------------------------------------------------------------ serve


def _runtime_path(data_dir: Path) -> Path:
    return data_dir / "runtime.json"


def _read_runtime(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_runtime_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _spool_key(variable: str) -> bytes | None:
    value = os.environ.get(variable)
    if not value:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise RelayError(f"${variable} must be 64 hexadecimal digits (a 32-byte key)") from None
    if len(key) != 32:
        raise RelayError(f"${variable} must be 64 hexadecimal digits (a 32-byte key)")
    return key


async def _serve(args: argparse.Namespace, data_dir: Path) -> int:
    from relay.forwarder import Forwarder
    from relay.server import RelayServer, ServerOptions, is_loopback
    from relay.spool import Spool
    from relay.tls import ensure_certificate, server_ssl_context

    data_dir.mkdir(parents=True, exist_ok=True)
    store = TokenStore(data_dir / "tokens.json")
    use_tls = not args.insecure
    fingerprint = ""
    ssl_context = None
    if use_tls:
        names = sorted(
            {args.name, socket.gethostname(), "localhost", "127.0.0.1", _lan_address(), args.host}
            - {"0.0.0.0", "::", ""}
        )
        files = ensure_certificate(data_dir / "tls", names)
        fingerprint = files.fingerprint_sha256
        ssl_context = server_ssl_context(files)
    elif not is_loopback(args.host):
        logger.warning("serving plain ws:// on %s: anyone on the network can read the traffic", args.host)
    spool = Spool(data_dir / "spool.sqlite3", key=_spool_key(args.spool_key_env))
    forwarders = []
    inbound: list[Any] = []
    if args.http_url:
        from relay.sinks.http import HttpSink

        token = os.environ.get(args.http_token_env, "")
        if not token:
            raise RelayError(f"--http-url needs its bearer token in ${args.http_token_env}")
        forwarders.append(Forwarder(spool, "http", HttpSink(args.http_url, token)))
    if args.mqtt:
        from relay.sinks.mqtt import MqttSink

        host, _, port = args.mqtt.rpartition(":")
        if not host or not port.isdigit():
            raise RelayError("--mqtt must be HOST:PORT")
        sink = MqttSink(
            host,
            int(port),
            team=args.mqtt_team,
            session=args.mqtt_session,
            client_id=f"pitbox-relay-{args.name}",
            mode=args.mqtt_mode,
            crewchief_driver=args.crewchief_driver,
            crewchief_track=args.crewchief_track,
            crewchief_car=args.crewchief_car,
            crewchief_sessiontype=args.crewchief_sessiontype,
        )
        forwarders.append(Forwarder(spool, "mqtt", sink))
        if args.mqtt_mode == "crewchief":
            from relay.sinks.mqtt import CoachSubscriber

            # The backend's coaching replies come back on /coach/{driver}: relay them to that
            # driver's app as ai_coaching (the driver's invite name is the CrewChief driver name).
            inbound.append(CoachSubscriber(host, int(port), args.crewchief_driver, car_id=args.crewchief_car_id))
    options = ServerOptions(
        host=args.host,
        port=args.port,
        ssl_context=ssl_context,
        insecure=args.insecure,
        state_path=data_dir / "state.json",
        record_dir=None if args.no_record else data_dir / "recordings",
        dashboard_port=None if args.no_dashboard else _dashboard_port(args),
        maps_dir=data_dir / "track-maps",
        video_dir=None if args.no_video else data_dir / "video",
        video_segment_budget_bytes=args.video_segments_mb * MIB,
        video_clip_budget_bytes=args.video_clips_mb * MIB,
        video_max_upload_bytes=args.video_max_upload_mb * MIB,
    )
    server = RelayServer(
        store,
        spool,
        options=options,
        forwarders=forwarders,
        inbound=inbound,
        relay_name=args.name,
        roster=store.roster,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C raises KeyboardInterrupt instead
            loop.add_signal_handler(signum, stop.set)
    await server.start()
    dashboard_port = server.dashboard.port if server.dashboard is not None else None
    runtime = {
        "port": server.port,
        "dashboard_port": dashboard_port,
        "host": args.host,
        "tls": use_tls,
        "fingerprint_sha256": fingerprint,
        "pid": os.getpid(),
    }
    _runtime_path(data_dir).write_text(json.dumps(runtime), encoding="utf-8")
    advertiser = None
    if not args.no_advertise and not is_loopback(args.host):
        from relay.discovery import RelayAdvertiser

        advertiser = RelayAdvertiser()
        try:
            await advertiser.start(_lan_address(), server.port, fingerprint, args.name, tls=use_tls)
        except RelayError as exc:
            logger.warning("not announced on the LAN: %s", exc)
            advertiser = None
    print(
        f"{PROG}: serving on {server.url}" + (f"  (certificate sha256 {fingerprint})" if fingerprint else ""),
        flush=True,
    )
    if server.dashboard is not None:
        print(f"{PROG}: team dashboard on {server.dashboard.url}", flush=True)
    print(f"{PROG}: invite the team with `{PROG} invite --role driver --name NAME --car N`", flush=True)
    try:
        await stop.wait()
    finally:
        if advertiser is not None:
            await advertiser.stop()
        await server.stop()
        spool.close()
        with contextlib.suppress(OSError):
            _runtime_path(data_dir).unlink()
    return 0


def _megabytes(text: str) -> int:
    """A positive whole number of megabytes (MiB), for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of MB") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1 MB")
    return value


def _dashboard_port(args: argparse.Namespace) -> int:
    if args.dashboard_port is not None:
        return int(args.dashboard_port)
    return 0 if args.port == 0 else int(args.port) + 1


def _lan_address() -> str:
    """This machine's address on the LAN (no packet is sent: a UDP connect only picks a route)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        address: str = probe.getsockname()[0]
        return address
    return "127.0.0.1"


# ------------------------------------------------------------------------------------------------ invite, revoke


def _invite(args: argparse.Namespace, data_dir: Path) -> int:
    from relay.tls import ensure_certificate

    store = TokenStore(data_dir / "tokens.json")
    role = Role(args.role)
    identity, token = store.invite(args.name, role, args.car, now_s=time.time())
    runtime = _read_runtime(data_dir) or {}
    host = args.host or _lan_address()
    port = args.port or int(runtime.get("port", DEFAULT_PORT))
    fingerprint = ""
    if not args.insecure:
        fingerprint = ensure_certificate(data_dir / "tls", [host, "localhost", "127.0.0.1"]).fingerprint_sha256
    pairing = encode_pairing(PairingInfo(host, port, token, fingerprint, tls=not args.insecure))
    car = f", car {identity.car_id}" if identity.car_id is not None else ""
    print(f"invite for {identity.name} ({identity.role.value}{car}), id {identity.token_id}:")
    print(pairing)
    if not args.no_qr:
        print(pairing_qr_text(pairing))
    if role is not Role.DRIVER:
        dashboard_port = runtime.get("dashboard_port") or (args.port or DEFAULT_PORT) + 1
        scheme = "http" if args.insecure else "https"
        link = f"{scheme}://{_url_host(host)}:{dashboard_port}/#pair={urllib.parse.quote(pairing, safe='')}"
        print(
            f"dashboard (the browser asks to trust the relay's certificate {fingerprint[:16]}...):"
            if fingerprint
            else "dashboard:"
        )
        print(link)
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _revoke(args: argparse.Namespace, data_dir: Path) -> int:
    count = TokenStore(data_dir / "tokens.json").revoke(args.who)
    if count == 0:
        raise RelayError(f"no active invite for {args.who!r}")
    print(f"revoked {count} invite{'s' if count != 1 else ''} of {args.who}")
    return 0


# ------------------------------------------------------------------------------------------------ talking to the relay


def _cli_token(data_dir: Path) -> str:
    """The local engineer token the command line uses to reach the relay on this machine."""
    path = data_dir / "cli_token"
    with contextlib.suppress(OSError):
        token = path.read_text(encoding="utf-8").strip()
        if token and TokenStore(data_dir / "tokens.json").verify(token) is not None:
            return token
    _, token = TokenStore(data_dir / "tokens.json").invite(CLI_USER, Role.ENGINEER, now_s=time.time())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token)
    return token


async def _exchange(data_dir: Path, request: Envelope, until: MessageType, timeout_s: float = 10.0) -> Envelope:
    """Connect to the local relay as the CLI engineer, send `request`, return the first reply of type `until`."""
    from websockets.asyncio.client import connect

    from relay.tls import client_ssl_context

    runtime = _read_runtime(data_dir)
    if runtime is None:
        raise RelayError(f"no relay is running from {data_dir} (start one with `{PROG} serve`)")
    tls = bool(runtime.get("tls"))
    url = f"{'wss' if tls else 'ws'}://127.0.0.1:{int(runtime['port'])}"
    ssl_context = client_ssl_context(str(runtime["fingerprint_sha256"])) if tls else None
    token = _cli_token(data_dir)
    async with asyncio.timeout(timeout_s), connect(url, ssl=ssl_context, compression=None) as ws:
        decode_message(await ws.recv())  # connection_established
        await ws.send(encode_message(Envelope(MessageType.AUTHENTICATE, "cli", {"token": token, "client": PROG})))
        while True:
            reply = decode_message(await ws.recv())
            if reply.type is MessageType.AUTHENTICATION_RESULT:
                if not reply.data.get("ok"):
                    raise RelayError("the relay refused the command line's token")
                await ws.send(encode_message(request))
            elif reply.type is MessageType.ERROR and reply.data.get("ref") == request.id:
                raise RelayError(f"the relay refused: {reply.data.get('message')}")
            elif reply.type is until and reply.id == request.id:
                return reply


def _handoff(args: argparse.Namespace, data_dir: Path) -> int:
    request = Envelope(
        MessageType.HANDOFF_REQUEST,
        f"cli-{os.getpid()}",
        {
            "action": "request",
            "car_id": args.car,
            "to_driver": args.to_driver,
            "reason": args.reason,
            "urgency": args.urgency,
        },
    )
    reply = asyncio.run(_exchange(data_dir, request, MessageType.HANDOFF_REQUEST))
    print(f"handoff {reply.data.get('handoff_id')} for car {args.car} to {args.to_driver}: {reply.data.get('status')}")
    return 0


def _message(args: argparse.Namespace, data_dir: Path) -> int:
    request = Envelope(
        MessageType.TEAM_MESSAGE, f"cli-{os.getpid()}", {"text": args.text, "priority": args.priority, "to": args.to}
    )
    reply = asyncio.run(_exchange(data_dir, request, MessageType.TEAM_MESSAGE))
    print(f"message {reply.data.get('message_id')} sent to {reply.data.get('to')} ({reply.data.get('priority')})")
    return 0


def _status(data_dir: Path) -> int:
    runtime = _read_runtime(data_dir)
    if runtime is None:
        print(f"relay: not running (data in {data_dir})")
    else:
        reachable = _reachable(int(runtime["port"]))
        scheme = "wss" if runtime.get("tls") else "ws"
        state = "running" if reachable else "not answering (stale runtime.json?)"
        print(f"relay: {state} on {scheme}://{runtime.get('host')}:{runtime['port']} (pid {runtime.get('pid')})")
        if runtime.get("fingerprint_sha256"):
            print(f"certificate sha256: {runtime['fingerprint_sha256']}")
    spool_path = data_dir / "spool.sqlite3"
    if spool_path.exists():
        from relay.spool import Spool

        with contextlib.suppress(RelayError), Spool(spool_path) as spool:
            for sink, cursor in spool.sinks().items():
                print(f"sink {sink}: {spool.pending(sink)} records waiting (forwarded up to #{cursor})")
    with contextlib.suppress(OSError, ValueError):
        state = json.loads((data_dir / "state.json").read_text(encoding="utf-8"))
        open_handoffs = [h for h in state.get("handoffs", []) if h["status"] in ("requested", "accepted")]
        print(f"open handoffs: {len(open_handoffs)}")
        for handoff in open_handoffs:
            print(f"  {handoff['handoff_id']}: car {handoff['car_id']} to {handoff['to_driver']} ({handoff['status']})")
    invites = TokenStore(data_dir / "tokens.json").list()
    active = [i for i in invites if not i.revoked and i.identity.name != CLI_USER]
    print(f"invites: {len(active)} active")
    return 0


def _reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return True
    return False


# ------------------------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the relay command line; returns the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    try:
        if args.command == "serve":
            return asyncio.run(_serve(args, data_dir))
        if args.command == "invite":
            return _invite(args, data_dir)
        if args.command == "revoke":
            return _revoke(args, data_dir)
        if args.command == "handoff":
            return _handoff(args, data_dir)
        if args.command == "message":
            return _message(args, data_dir)
        return _status(data_dir)
    except (RelayError, ProtocolError, OSError, TimeoutError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
