"""The bridge's markouts channels (docs/bridge.md section 1): ``markouts`` (``lp-markout``,
``markout-curve``) for any authenticated user, ``flow-toxicity`` (``account-toxicity``,
``routing-advice``) for the roles risk and admin by default; each message carries every field
of its record (NaN as null); a new subscriber's snapshot holds the latest state of every LP and
curve, and of every account under watch or toxic."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from tests.helpers.bridge import T0, context, identity, roundtrip, session
from tests.helpers.markouts import Params, run, scenario
from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.protocol import CHANNELS, SCHEMA_ROUTES, Message, to_message

SMALL = Params(seed=11, minutes=10, informed=1, noise=3, trade_every_s=4)


@cache
def records() -> dict[str, list[dict[str, Any]]]:
    """The records the boards published for a small labelled scenario, as the bridge decodes
    them, by schema."""
    r = run(scenario(SMALL).events)
    out: dict[str, list[dict[str, Any]]] = {}
    for d in r.published:
        for schema, items in (
            ("AccountToxicity", d.accounts),
            ("LpMarkout", d.lps),
            ("MarkoutCurve", d.curves),
            ("RoutingAdvice", d.advice),
        ):
            out.setdefault(schema, []).extend(roundtrip(schema, dict(x)) for x in items)
    return out


def messages(schema: str) -> list[Message]:
    return [to_message(schema, rec) for rec in records()[schema]]


def test_the_markout_records_have_their_channels_and_types() -> None:
    assert SCHEMA_ROUTES["LpMarkout"] == ("markouts", "lp-markout")
    assert SCHEMA_ROUTES["MarkoutCurve"] == ("markouts", "markout-curve")
    assert SCHEMA_ROUTES["AccountToxicity"] == ("flow-toxicity", "account-toxicity")
    assert SCHEMA_ROUTES["RoutingAdvice"] == ("flow-toxicity", "routing-advice")
    assert {"markouts", "flow-toxicity"} <= set(CHANNELS)


def test_each_message_carries_every_field_of_its_record() -> None:
    for schema in ("AccountToxicity", "LpMarkout", "MarkoutCurve", "RoutingAdvice"):
        msgs = messages(schema)
        assert msgs, schema
        for message, rec in zip(msgs, records()[schema], strict=True):
            assert set(message["data"]) == set(rec) - {"eventTime"}
            json.dumps(message, allow_nan=False)
    account = messages("AccountToxicity")[-1]["data"]
    assert len(account["meanMarkoutBps"]) == len(account["horizonsMs"]) == 4
    advice = messages("RoutingAdvice")[-1]["data"]
    assert advice["recommendedBook"] in ("ABOOK", "BBOOK") and advice["reason"]


def test_flow_toxicity_is_for_risk_and_admin_by_default_and_markouts_for_everyone() -> None:
    assert not ChannelPolicy().allows({"dealer"}, "flow-toxicity")
    assert ChannelPolicy().allows({"dealer"}, "markouts")
    assert ChannelPolicy({"flow-toxicity": ["dealer"]}).allows({"dealer"}, "flow-toxicity")
    viewer = session(context(), ident=identity(roles=("viewer",)))
    viewer.receive('{"action":"subscribe","channels":["flow-toxicity","markouts"]}', T0)
    assert viewer.subscriptions == {"markouts"}
    error = (viewer.next_batch(T0) or [])[0]
    assert (error["data"]["code"], error["data"]["channel"]) == ("forbidden", "flow-toxicity")


def test_the_snapshot_holds_every_lp_and_curve_and_only_flagged_accounts() -> None:
    fanout = Fanout()
    every = [
        *messages("LpMarkout"),
        *messages("MarkoutCurve"),
        *messages("AccountToxicity"),
        *messages("RoutingAdvice"),
    ]
    fanout.dispatch(every, [], T0)
    snap = fanout.snapshot(["markouts", "flow-toxicity"])
    lps = {m.message["data"]["lpName"] for m in snap if m.message["type"] == "lp-markout"}
    assert lps == {r["lpName"] for r in records()["LpMarkout"]}
    curves = [m for m in snap if m.message["type"] == "markout-curve"]
    assert len(curves) == len({(r["symbol"], r["book"]) for r in records()["MarkoutCurve"]})
    latest: dict[str, dict[str, Any]] = {}
    for rec in records()["AccountToxicity"]:
        latest[rec["accountId"]] = rec
    flagged = {a for a, r in latest.items() if r["level"] in ("watch", "toxic")}
    assert flagged  # the informed account of the scenario
    shown = {
        m.message["data"]["accountId"] for m in snap if m.message["type"] == "account-toxicity"
    }
    assert shown == flagged
    # an account back to normal leaves the snapshot
    account = sorted(flagged)[0]
    back = dict(latest[account], level="normal", eventTime=latest[account]["eventTime"] + 1)
    fanout.dispatch([to_message("AccountToxicity", back)], [], T0)
    after = fanout.snapshot(["flow-toxicity"])
    assert account not in {
        m.message["data"]["accountId"] for m in after if m.message["type"] == "account-toxicity"
    }
    desk = session(context(fanout=fanout), ident=identity(roles=("risk",)), channels=("markouts",))
    assert {m["type"] for m in desk.next_batch(T0) or []} == {"lp-markout", "markout-curve"}
