"""Invite tokens, their store, throttling and the pairing string (`relay.auth`)."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from relay.auth import (
    MAX_TOKEN_CHARS,
    AuthAttempts,
    Identity,
    PairingInfo,
    RateLimiter,
    TokenStore,
    decode_pairing,
    encode_pairing,
    pairing_qr_text,
)
from relay.errors import PairingError, RelayError, TokenStoreError
from relay.protocol import Role

FP = "0123456789abcdef" * 4


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "relay" / "tokens.json")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[TokenStore, str]:
    """One store with one live driver invite, shared by the property tests (hashing is slow-ish)."""
    store = TokenStore(tmp_path_factory.mktemp("tokens") / "tokens.json")
    _, token = store.invite("Ana", Role.DRIVER, 7, now_s=1.0)
    return store, token


# --- invite / verify / revoke -------------------------------------------------------------------


def test_invite_then_verify_returns_the_identity(store: TokenStore) -> None:
    identity, token = store.invite("Ana", Role.DRIVER, 7, now_s=100.0)
    assert identity == Identity(name="Ana", role=Role.DRIVER, car_id=7, token_id=identity.token_id)
    assert token.startswith(identity.token_id + ".")
    assert store.verify(token) == identity
    assert store.verify(token) == identity  # second time from the cache


def test_engineer_and_viewer_have_no_car(store: TokenStore) -> None:
    engineer, e_token = store.invite("Ben", Role.ENGINEER, now_s=1.0)
    viewer, v_token = store.invite("Cy", Role.VIEWER, now_s=2.0)
    assert (engineer.car_id, viewer.car_id) == (None, None)
    assert store.verify(e_token) == engineer
    assert store.verify(v_token) == viewer


def test_tokens_and_ids_are_unique(store: TokenStore) -> None:
    invites = [store.invite(f"viewer {i}", Role.VIEWER, now_s=float(i)) for i in range(5)]
    assert len({identity.token_id for identity, _ in invites}) == 5
    assert len({token for _, token in invites}) == 5


@pytest.mark.parametrize("car_id", [None, -1, 65536, 1.5, True, "7"])
def test_driver_needs_a_valid_car_id(store: TokenStore, car_id: object) -> None:
    with pytest.raises(TokenStoreError, match="car id"):
        store.invite("Ana", Role.DRIVER, car_id, now_s=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.VIEWER])
def test_non_driver_must_not_have_a_car_id(store: TokenStore, role: Role) -> None:
    with pytest.raises(TokenStoreError, match="no car id"):
        store.invite("Ben", role, 3, now_s=1.0)


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there"])
def test_bad_names_are_refused(store: TokenStore, name: str) -> None:
    with pytest.raises(TokenStoreError):
        store.invite(name, Role.VIEWER, now_s=1.0)


def test_unknown_role_is_a_typed_error(store: TokenStore) -> None:
    with pytest.raises(TokenStoreError, match="unknown role"):
        store.invite("Ben", "admin", now_s=1.0)  # type: ignore[arg-type]
    assert issubclass(TokenStoreError, RelayError)


def test_car_id_bounds_are_accepted(store: TokenStore) -> None:
    low, token_low = store.invite("Low", Role.DRIVER, 0, now_s=1.0)
    high, token_high = store.invite("High", Role.DRIVER, 65535, now_s=1.0)
    assert store.verify(token_low) == low
    assert store.verify(token_high) == high


def test_revoke_by_token_id_and_by_name(store: TokenStore) -> None:
    ana, ana_token = store.invite("Ana", Role.DRIVER, 7, now_s=1.0)
    ben1, ben1_token = store.invite("Ben", Role.ENGINEER, now_s=2.0)
    _, ben2_token = store.invite("Ben", Role.VIEWER, now_s=3.0)
    assert store.verify(ana_token) == ana  # cached now
    assert store.revoke(ana.token_id) == 1
    assert store.verify(ana_token) is None  # the cache does not outlive a revocation
    assert store.revoke(ana.token_id) == 0  # already revoked
    assert store.revoke("Ben") == 2
    assert store.verify(ben1_token) is None
    assert store.verify(ben2_token) is None
    assert store.revoke("nobody") == 0
    listed = store.list()
    assert [(i.identity.name, i.created_s, i.revoked) for i in listed] == [
        ("Ana", 1.0, True),
        ("Ben", 2.0, True),
        ("Ben", 3.0, True),
    ]
    assert listed[1].identity == ben1


def test_invites_persist_across_instances(store: TokenStore) -> None:
    identity, token = store.invite("Ana", Role.DRIVER, 7, now_s=42.0)
    reopened = TokenStore(store.path)
    assert reopened.verify(token) == identity
    assert [(i.identity, i.created_s, i.revoked) for i in reopened.list()] == [(identity, 42.0, False)]


def test_a_revocation_by_another_process_takes_effect(store: TokenStore) -> None:
    identity, token = store.invite("Ana", Role.DRIVER, 7, now_s=1.0)
    assert store.verify(token) == identity
    other = TokenStore(store.path)  # e.g. the command line, while the relay runs
    assert other.revoke("Ana") == 1
    os.utime(store.path, ns=(1, 1))  # a different mtime, even on a coarse-clock filesystem
    assert store.verify(token) is None


def test_file_holds_no_token_or_secret_and_is_private(store: TokenStore) -> None:
    tokens = [store.invite("Ana", Role.DRIVER, 7, now_s=1.0)[1], store.invite("Ben", Role.ENGINEER, now_s=2.0)[1]]
    store.revoke("Ben")
    text = store.path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["format"] == 1 and len(data["invites"]) == 2
    for token in tokens:
        token_id, secret = token.split(".", 1)
        assert token_id in text  # the public id is stored
        assert secret not in text
        assert token not in text
    entry = data["invites"][0]
    assert entry["kdf"]["name"] == "scrypt"
    assert len(bytes.fromhex(entry["salt"])) == 16 and len(bytes.fromhex(entry["hash"])) == 32
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["tokens.json"]  # no temp file left


def test_salts_differ_per_token(store: TokenStore) -> None:
    store.invite("Ana", Role.VIEWER, now_s=1.0)
    store.invite("Ana", Role.VIEWER, now_s=1.0)
    entries = json.loads(store.path.read_text(encoding="utf-8"))["invites"]
    assert entries[0]["salt"] != entries[1]["salt"]


def test_corrupt_file_is_a_typed_error_without_content(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"format": 1, "invites": [{"token_id": "SECRETSTUFF"}]}', encoding="utf-8")
    with pytest.raises(TokenStoreError, match="corrupt") as caught:
        TokenStore(path)
    assert "SECRETSTUFF" not in str(caught.value)
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(TokenStoreError):
        TokenStore(path)


def test_verify_refuses_wrong_unknown_malformed_and_non_text(store: TokenStore) -> None:
    identity, token = store.invite("Ana", Role.DRIVER, 7, now_s=1.0)
    token_id, secret = token.split(".", 1)
    wrong_secret = token_id + "." + ("A" if secret[0] != "A" else "B") + secret[1:]
    other_id = ("0" if token_id[0] != "0" else "1") + token_id[1:]
    bad: list[object] = [
        wrong_secret,
        f"{other_id}.{secret}",  # unknown id
        secret,
        token_id,
        token + "x",
        token[:-1],
        " " + token,
        token.upper(),
        "",
        ".",
        "x" * 10_000_000,
        token + "A" * MAX_TOKEN_CHARS,
        None,
        123,
        b"bytes",
        token.encode(),
        [token],
        {"token": token},
        "\x00" * 100,
        "\ud800",
    ]
    for value in bad:
        assert store.verify(value) is None, type(value)
    assert store.verify(token) == identity


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400) | st.binary(max_size=64) | st.integers() | st.none())
def test_verify_never_raises_on_arbitrary_input(shared: tuple[TokenStore, str], value: object) -> None:
    store, _ = shared
    assert store.verify(value) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.from_regex(r"[A-Za-z0-9_-]{16,60}", fullmatch=True))
def test_verify_with_the_right_id_and_a_guessed_secret_fails(shared: tuple[TokenStore, str], secret: str) -> None:
    store, token = shared
    token_id = token.split(".", 1)[0]
    guess = f"{token_id}.{secret}"
    assume(guess != token)
    assert store.verify(guess) is None


def test_no_token_in_logs_or_reprs(store: TokenStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    identity, token = store.invite("Ana", Role.DRIVER, 7, now_s=1.0)
    secret = token.split(".", 1)[1]
    store.verify(token)
    store.verify(token)
    store.verify(token + "x")
    store.verify(token[:-1] + ("A" if token[-1] != "A" else "B"))
    store.revoke(identity.token_id)
    store.verify(token)
    TokenStore(store.path).list()
    info = PairingInfo("relay.local", 8765, token, FP)
    with pytest.raises(PairingError) as caught:
        decode_pairing(f"pitbox://relay.local:99999/?t={token}&fp={FP}")
    texts = [record.getMessage() for record in caplog.records] + [
        caplog.text,
        repr(identity),
        repr(store),
        repr(store.list()),
        repr(info),
        str(caught.value),
    ]
    assert any("Ana" in text for text in texts)  # the logging did happen
    for text in texts:
        assert secret not in text


# --- throttling ---------------------------------------------------------------------------------


def test_rate_limiter_bursts_then_refills() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=3)
    assert [limiter.allow(10.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow(10.4)  # 0.8 units refilled
    assert limiter.allow(10.5)  # 1.0 unit
    assert not limiter.allow(10.5)
    assert [limiter.allow(100.0) for _ in range(4)] == [True, True, True, False]  # capped at the burst


def test_rate_limiter_costs_and_clock_going_back() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=5)
    assert limiter.allow(0.0, cost=5)
    assert not limiter.allow(-100.0)  # a clock going back refills nothing
    assert not limiter.allow(1.0, cost=2)  # refused calls spend nothing...
    assert limiter.allow(1.0, cost=1)  # ...so the unit is still there
    assert not limiter.allow(1_000.0, cost=6)  # more than the burst is never allowed
    assert limiter.allow(1_000.0, cost=0.5)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0), (-1, 1), (float("nan"), 1), (1, float("inf"))])
def test_rate_limiter_refuses_bad_settings(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


def test_auth_attempts_block_after_max_failures_within_window() -> None:
    attempts = AuthAttempts()
    for i in range(4):
        attempts.failed("10.0.0.5", 100.0 + i)
        assert not attempts.blocked("10.0.0.5", 100.0 + i)
    attempts.failed("10.0.0.5", 104.0)
    assert attempts.blocked("10.0.0.5", 104.0)
    assert attempts.blocked("10.0.0.5", 163.9)
    assert not attempts.blocked("10.0.0.5", 164.0)
    assert not attempts.blocked("10.0.0.6", 104.0)  # per remote
    assert attempts.total_failures == 5


def test_auth_attempts_forget_failures_outside_the_window() -> None:
    attempts = AuthAttempts(max_failures=3, window_s=10.0, block_s=30.0)
    attempts.failed("a", 0.0)
    attempts.failed("a", 5.0)
    attempts.failed("a", 10.0)  # the first has left the window
    assert not attempts.blocked("a", 10.0)
    attempts.failed("a", 12.0)
    assert attempts.blocked("a", 12.0)
    assert not attempts.blocked("a", 42.0)
    attempts.failed("a", 43.0)  # the slate was wiped by the block
    assert not attempts.blocked("a", 43.0)
    assert attempts.total_failures == 5


def test_auth_attempts_success_clears_failures_but_not_a_block() -> None:
    attempts = AuthAttempts(max_failures=2)
    attempts.failed("a", 0.0)
    attempts.succeeded("a")
    attempts.failed("a", 1.0)
    assert not attempts.blocked("a", 1.0)
    attempts.failed("a", 2.0)
    attempts.succeeded("a")
    assert attempts.blocked("a", 2.0)


def test_auth_attempts_memory_is_bounded() -> None:
    attempts = AuthAttempts(max_failures=2, max_remotes=100)
    for i in range(1_000):
        attempts.failed(f"10.0.{i // 256}.{i % 256}", float(i))
    assert len(attempts._failures) <= 100
    assert attempts.total_failures == 1_000


# --- the pairing string -------------------------------------------------------------------------

TOKEN = "0a1b2c3d.Abc_def-GHIjklmnopqrstuvwxyz0123"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.168.1.20", "pitbox://192.168.1.20:8765/?t="),
        ("fe80::1", "pitbox://[fe80::1]:8765/?t="),
        ("[2001:db8::7]", "pitbox://[2001:db8::7]:8765/?t="),
        ("Relay-PC.local", "pitbox://relay-pc.local:8765/?t="),
        ("localhost", "pitbox://localhost:8765/?t="),
    ],
)
def test_pairing_round_trip(host: str, expected: str) -> None:
    text = encode_pairing(PairingInfo(host, 8765, TOKEN, FP.upper()))
    assert text.startswith(expected)
    assert text.endswith(f"?t={TOKEN}&fp={FP}")
    assert " " not in text and "\n" not in text
    decoded = decode_pairing(f"  {text}\n")
    assert decoded == PairingInfo(host.strip("[]").lower(), 8765, TOKEN, FP, tls=True)


def test_insecure_pairing_round_trip() -> None:
    text = encode_pairing(PairingInfo("10.0.0.2", 80, TOKEN, "", tls=False))
    assert text == f"pitbox+insecure://10.0.0.2:80/?t={TOKEN}"
    assert decode_pairing(text) == PairingInfo("10.0.0.2", 80, TOKEN, "", tls=False)


@given(
    host=st.ip_addresses().map(str)
    | st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,3}", fullmatch=True),
    port=st.integers(1, 65535),
    token=st.from_regex(r"[A-Za-z0-9._~-]{1,256}", fullmatch=True),
    fingerprint=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    tls=st.booleans(),
)
def test_pairing_round_trips_for_any_valid_info(host: str, port: int, token: str, fingerprint: str, tls: bool) -> None:
    info = PairingInfo(host, port, token, fingerprint if tls else "", tls)
    assert decode_pairing(encode_pairing(info)) == info


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (f"https://relay:8765/?t={TOKEN}&fp={FP}", "starts with pitbox://"),
        (f"relay:8765/?t={TOKEN}&fp={FP}", "starts with pitbox://"),
        (f"pitbox://relay/?t={TOKEN}&fp={FP}", "no port"),
        (f"pitbox://relay:0/?t={TOKEN}&fp={FP}", "port"),
        (f"pitbox://relay:65536/?t={TOKEN}&fp={FP}", "port"),
        (f"pitbox://relay:http/?t={TOKEN}&fp={FP}", "port"),
        (f"pitbox://relay:8765/?fp={FP}", "no token"),
        (f"pitbox://relay:8765/?t=&fp={FP}", "no token"),
        (f"pitbox://relay:8765/?t={TOKEN}", "fingerprint"),
        (f"pitbox://relay:8765/?t={TOKEN}&fp={FP[:-1]}", "fingerprint"),
        (f"pitbox://relay:8765/?t={TOKEN}&fp={FP}00", "fingerprint"),
        (f"pitbox://relay:8765/?t={TOKEN}&fp={'g' * 64}", "fingerprint"),
        (f"pitbox+insecure://relay:8765/?t={TOKEN}&fp={FP}", "no certificate fingerprint"),
        (f"pitbox://:8765/?t={TOKEN}&fp={FP}", "no host"),
        (f"pitbox://[::1:8765/?t={TOKEN}&fp={FP}", "not a valid URL"),
        (f"pitbox://bad_host!:8765/?t={TOKEN}&fp={FP}", "host"),
        (f"pitbox://user:pw@relay:8765/?t={TOKEN}&fp={FP}", "user name"),
        (f"pitbox://relay:8765/api?t={TOKEN}&fp={FP}", "path"),
        (f"pitbox://relay:8765/?t={TOKEN}&fp={FP}&x=1", "unknown fields"),
        (f"pitbox://relay:8765/?t={TOKEN}&t={TOKEN}&fp={FP}", "repeats"),
        (f"pitbox://relay:8765/?t={TOKEN}%20x&fp={FP}", "URL-safe"),
        (f"pitbox://relay:8765/?t={'a' * 300}&fp={FP}", "URL-safe"),
        ("pitbox://relay:8765/?t=é", "ASCII"),
        ("x" * 5000, "longer"),
    ],
)
def test_decode_pairing_explains_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PairingError, match=message) as caught:
        decode_pairing(text)
    assert TOKEN not in str(caught.value)


def test_decode_pairing_refuses_non_text() -> None:
    for value in (None, 1, b"pitbox://x:1/?t=a&fp=" + FP.encode()):
        with pytest.raises(PairingError):
            decode_pairing(value)


@pytest.mark.parametrize(
    "info",
    [
        PairingInfo("relay", 0, TOKEN, FP),
        PairingInfo("relay", 8765, "", FP),
        PairingInfo("relay", 8765, TOKEN, "abc"),
        PairingInfo("bad host", 8765, TOKEN, FP),
    ],
)
def test_encode_pairing_refuses_bad_info(info: PairingInfo) -> None:
    with pytest.raises(PairingError):
        encode_pairing(info)


@settings(max_examples=500)
@given(st.text(max_size=300) | st.from_regex(r"pitbox(\+insecure)?://[^/]{0,40}(/\?.{0,120})?", fullmatch=True))
def test_decode_pairing_only_raises_pairing_error(text: str) -> None:
    try:
        info = decode_pairing(text)
    except PairingError:
        return
    assert decode_pairing(encode_pairing(info)) == info


def test_pairing_qr_is_terminal_text() -> None:
    text = encode_pairing(PairingInfo("192.168.1.20", 8765, TOKEN, FP))
    qr = pairing_qr_text(text)
    lines = qr.splitlines()
    assert len(lines) > 10
    assert len({len(line) for line in lines}) == 1  # a square block of characters
    assert set(qr) <= {"█", "▀", "▄", " ", "\n"}
