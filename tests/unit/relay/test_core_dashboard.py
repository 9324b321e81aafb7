"""What the relay core does for the dashboard: stint plans proposed per car and approved by an engineer,
and the catch-up a client gets when it signs in (plans, and the team messages it may read)."""

from __future__ import annotations

import json
from typing import Any

from relay.core import CATCH_UP_MESSAGES, RelayCore, RelayLimits, StateChanged
from relay.protocol import MessageType
from tests.support.relay import (
    DRIVER_CAR,
    OTHER_CAR,
    authenticator,
    drive,
    join,
    messages_to,
    persists,
    sequential_ids,
)

SESSION = {"driver": "Dan", "track": {"name": "martinsville"}, "time_limit_s": 7200.0, "max_fuel_l": 60.0}


def proposer_core(proposals: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> RelayCore:
    def propose(car_id: int, session: dict[str, Any], strategy: dict[str, Any]) -> dict[str, Any] | None:
        proposals.append((car_id, session, strategy))
        if strategy.get("laps_completed", 0) < 2:
            return None  # not enough laps yet
        return {"drivers": ["Dan", "Bob"], "laps_done": strategy["laps_completed"], "stints": []}

    return RelayCore(authenticator, limits=RelayLimits(), new_id=sequential_ids(), propose_plan=propose)


def strategy(laps: int) -> tuple[MessageType, dict[str, Any]]:
    return MessageType.STRATEGY_UPDATE, {"strategy": {"laps_completed": laps}}


def test_a_strategy_update_proposes_a_stint_plan_to_everyone_until_an_engineer_approves_one() -> None:
    proposals: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    core = proposer_core(proposals)
    join(core, "dan", "tok-dan")
    join(core, "eve", "tok-eve")
    join(core, "vic", "tok-vic")
    drive(core, "dan", (MessageType.SESSION_INFO, {"session": SESSION}))

    actions = drive(core, "dan", strategy(1))
    assert proposals[-1][0] == DRIVER_CAR and proposals[-1][1]["driver"] == "Dan"
    assert [m.type for m in messages_to(actions, "vic")] == [MessageType.STRATEGY_UPDATE]  # nothing to propose yet

    actions = drive(core, "dan", strategy(2))
    plans = [m for m in messages_to(actions, "vic") if m.type is MessageType.STINT_PLAN]
    assert len(plans) == 1 and plans[0].data["car_id"] == DRIVER_CAR and plans[0].data["approved"] is False
    assert plans[0].data["plan"]["laps_done"] == 2
    assert {m.type for m in messages_to(actions, "dan")} == {MessageType.STRATEGY_UPDATE, MessageType.STINT_PLAN}
    assert any(p.key.startswith("c:stint_plan") for p in persists(actions))  # the spool keeps it

    plan = dict(plans[0].data["plan"])
    actions = drive(core, "eve", (MessageType.STINT_PLAN, {"car_id": DRIVER_CAR, "plan": plan, "approved": True}))
    approved = [m for m in messages_to(actions, "dan") if m.type is MessageType.STINT_PLAN]
    assert approved and approved[0].data["approved"] is True
    assert core.stint_plans[DRIVER_CAR]["approved"] is True

    calls = len(proposals)
    actions = drive(core, "dan", strategy(5))
    assert len(proposals) == calls  # an approved plan is not replaced by a proposal
    assert not [m for m in messages_to(actions, "vic") if m.type is MessageType.STINT_PLAN]


def test_no_proposal_without_the_cars_session_or_without_a_proposer() -> None:
    proposals: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    core = proposer_core(proposals)
    join(core, "dan", "tok-dan")
    drive(core, "dan", strategy(3))
    assert proposals == [] and core.stint_plans == {}

    plain = RelayCore(authenticator, new_id=sequential_ids())
    join(plain, "dan", "tok-dan")
    join(plain, "vic", "tok-vic")
    drive(plain, "dan", (MessageType.SESSION_INFO, {"session": SESSION}))
    actions = drive(plain, "dan", strategy(3))
    assert [m.type for m in messages_to(actions, "vic")] == [MessageType.STRATEGY_UPDATE]


def test_signing_in_catches_up_on_plans_per_car_and_the_team_messages_one_may_read() -> None:
    core = proposer_core([])
    join(core, "dan", "tok-dan")
    join(core, "dora", "tok-dora")
    join(core, "eve", "tok-eve")
    drive(core, "dan", (MessageType.SESSION_INFO, {"session": SESSION}))
    drive(core, "dan", strategy(3))
    drive(core, "eve", (MessageType.STINT_PLAN, {"car_id": OTHER_CAR, "plan": {"stints": []}, "approved": True}))
    drive(core, "eve", (MessageType.TEAM_MESSAGE, {"text": "Box this lap", "to": "all"}))
    drive(core, "eve", (MessageType.TEAM_MESSAGE, {"text": "Dan only: save fuel", "to": "Dan"}))
    drive(core, "dora", (MessageType.TEAM_MESSAGE, {"text": "Dora to the engineers", "to": "Eve"}))

    viewer = messages_to(join(core, "vic", "tok-vic"), "vic")
    plans = {m.data["car_id"]: m.data["approved"] for m in viewer if m.type is MessageType.STINT_PLAN}
    assert plans == {DRIVER_CAR: False, OTHER_CAR: True}
    texts = [m.data["text"] for m in viewer if m.type is MessageType.TEAM_MESSAGE]
    assert texts == ["Box this lap"]  # private messages stay private

    bob = messages_to(join(core, "bob", "tok-bob"), "bob")
    assert [m.data["text"] for m in bob if m.type is MessageType.TEAM_MESSAGE] == ["Box this lap"]
    dan = messages_to(join(core, "dan2", "tok-dan"), "dan2")
    assert [m.data["text"] for m in dan if m.type is MessageType.TEAM_MESSAGE] == [
        "Box this lap",
        "Dan only: save fuel",
    ]
    ed = messages_to(join(core, "ed", "tok-ed"), "ed")
    assert len([m for m in ed if m.type is MessageType.TEAM_MESSAGE]) == 3  # engineers read everything


def test_catch_up_sends_only_the_newest_team_messages() -> None:
    core = proposer_core([])
    join(core, "eve", "tok-eve")
    for i in range(CATCH_UP_MESSAGES + 7):
        drive(core, "eve", (MessageType.TEAM_MESSAGE, {"text": f"message {i}"}), now_s=1.0 + i)
    viewer = messages_to(join(core, "vic", "tok-vic", now_s=100.0), "vic")
    texts = [m.data["text"] for m in viewer if m.type is MessageType.TEAM_MESSAGE]
    assert len(texts) == CATCH_UP_MESSAGES
    assert texts[0] == "message 7" and texts[-1] == f"message {CATCH_UP_MESSAGES + 6}"


def test_a_restarted_relay_still_knows_each_cars_session_strategy_and_plan() -> None:
    core = proposer_core([])
    join(core, "dan", "tok-dan")
    join(core, "eve", "tok-eve")
    saved = [a for a in drive(core, "dan", (MessageType.SESSION_INFO, {"session": SESSION}))]
    assert any(isinstance(a, StateChanged) for a in saved)  # the server saves the state on it
    drive(core, "dan", strategy(3))
    drive(core, "eve", (MessageType.STINT_PLAN, {"car_id": DRIVER_CAR, "plan": {"stints": []}, "approved": True}))

    restarted = proposer_core([])
    restarted.restore(json.loads(json.dumps(core.state())))
    viewer = messages_to(join(restarted, "vic", "tok-vic"), "vic")
    by_type = {m.type: m.data for m in viewer}
    assert by_type[MessageType.SESSION_INFO] == {"car_id": DRIVER_CAR, "session": SESSION}
    assert by_type[MessageType.STRATEGY_UPDATE]["strategy"] == {"laps_completed": 3}
    assert by_type[MessageType.STINT_PLAN]["approved"] is True
