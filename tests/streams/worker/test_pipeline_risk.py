"""The worker's pipeline with risk (docs/pnl.md), without Kafka: stage 1's account partials
and quotes reach the global stage encoded, as the internal topic holds them; the P&L,
account risk and top-N it writes equal a RiskView fed the same inputs directly; and a stage
recovered from the topic's history (a snapshot with its risk state in pieces, the messages it
covers taken in, the rest replayed) gives the figures of the uninterrupted run, realised P&L
at the rates when it was realised included, compacted or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from schemas.codec import default_codec
from streams import events
from streams.alerts.config import RulesConfig
from streams.risk import RiskConfig
from streams.routing.windows import RoutingConfig
from streams.worker.pipeline import (
    GlobalStage,
    InputStage,
    Internal,
    Output,
    PipelineConfig,
    risk_stage,
)
from streams.worker.pipeline.config import RiskOutputs
from streams.worker.pipeline.records import risk_state_from, risk_state_messages
from tests.helpers.risk import micros, position, run

CODEC = default_codec()
T = micros("2026-01-20T09:00:00Z")
S = 1_000_000
NOW = 100.0


@dataclass(frozen=True)
class Rec:
    """A record of the internal topic as the global loop reads it."""

    key: bytes | None
    value: bytes | None
    offset: int


class Topic:
    """The internal topic: every message stage 1 and the global stage write, with offsets
    (tombstones too), and a global stage fed as the consume loop feeds it."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.records: list[Rec] = []
        self.stage1 = InputStage(RoutingConfig(), calendar=config.risk.calendar())
        self.stage = GlobalStage(config)
        self.outputs: list[Output] = []
        self.now = NOW

    def append(self, messages: list[Internal]) -> list[bytes]:
        values = []
        for m in messages:
            self.records.append(Rec(m.key.encode(), m.encode(), len(self.records)))
            values.append(m.encode())
            if m.then_delete:
                self.records.append(Rec(m.key.encode(), None, len(self.records)))
        return values

    def feed(self, *inputs: dict[str, Any]) -> None:
        """Inputs through stage 1 (positions in partition hash % 3, quotes in 0), then the
        batch through the global stage and its timer."""
        for record in inputs:
            if "positionId" in record:
                p = sum(map(ord, record["positionId"])) % 3
                self.stage1.applier("positions")(p, record, self.now)
            else:
                self.stage1.applier("quotes")(0, record, self.now)
        values = self.append(self.stage1.take(self.now))
        self.now += 1.0
        self.outputs += self.stage.apply_encoded(values, self.now)
        self.stage.covered = len(self.records)
        self.outputs += self.stage.due(self.now)

    def snapshot(self) -> None:
        self.append(self.stage.snapshot_messages())
        for key in self.stage.take_tombstones():
            self.records.append(Rec(key.encode(), None, len(self.records)))

    def compacted(self) -> list[Rec]:
        """The topic after compaction: the latest record of each key, tombstones gone."""
        latest = {r.key: r for r in self.records}
        return sorted((r for r in latest.values() if r.value), key=lambda r: r.offset)


def quote(symbol: str, bid: float, ask: float, t: int) -> dict[str, Any]:
    return events.validate(
        "Quote", events.quote(symbol=symbol, bid=bid, ask=ask, event_time=t, event_id="q")
    )


def of(outputs: list[Output], topic: str) -> list[Any]:
    return [o.record for o in outputs if o.topic == topic]


def day(topic: Topic) -> None:
    """The worked example of docs/pnl.md (its trading day 2026-01-20), in batches."""
    topic.feed(
        position(
            "p5",
            account="acc-B",
            symbol="USDJPY",
            side="SELL",
            volume=10_000.0,
            open_price=156.77,
            t=T,
            realized=0.0,
        ),
        quote("USDJPY", 156.23, 156.27, T),
    )
    topic.feed(
        position(
            "p5",
            2,
            account="acc-B",
            symbol="USDJPY",
            side="SELL",
            status="CLOSED",
            open_price=156.77,
            t=T + 1800 * S,
            realized=5_000.0,
            realized_delta=5_000.0,
        ),
    )
    topic.feed(
        position(
            "b1", account="acc-A", volume=100_000.0, open_price=1.08, t=T + 3600 * S, realized=0.0
        ),
        quote("EURUSD", 1.0950, 1.0954, T + 3600 * S),
    )
    topic.feed(
        position("b1", 2, account="acc-A", volume=60_000.0, open_price=1.08,
                 t=T + 5400 * S, realized=600.0, realized_delta=600.0),
    )  # fmt: skip


def rest_of_day(topic: Topic) -> None:
    t = T + 7200 * S
    topic.feed(
        position("b2", account="acc-B", side="SELL", volume=40_000.0, open_price=1.105, t=t),
        position("b3", account="acc-A", symbol="USDJPY", volume=50_000.0, open_price=150.0, t=t),
        position(
            "b4",
            account="acc-C",
            symbol="EURGBP",
            side="SELL",
            volume=30_000.0,
            open_price=0.87,
            t=t,
        ),
        position(
            "a1",
            account="acc-C",
            symbol="GBPUSD",
            volume=200_000.0,
            open_price=1.24,
            book="ABOOK",
            t=t,
        ),
    )
    t += 3600 * S
    topic.feed(
        quote("EURUSD", 1.0998, 1.1002, t),
        quote("USDJPY", 159.98, 160.02, t),
        quote("GBPUSD", 1.2498, 1.2502, t),
        quote("EURGBP", 0.8799, 0.8801, t),
    )  # fmt: skip


def test_the_worked_example_through_the_pipeline_gives_the_documented_pnl() -> None:
    """docs/pnl.md's worked example, fed as the worker feeds it: the broker's B-book P&L
    -4,752 (floating -4,120, realised -632: 5,000 JPY at the 1/156.25 of when it was
    realised), clients' A-book 1,960; the accounts as documented (their records written
    again by the refresh, as quotes moved their figures); the top lists."""
    topic = Topic(PipelineConfig(risk_outputs=RiskOutputs(refresh_s=1.0)))
    day(topic)
    rest_of_day(topic)
    pnl = topic.stage.risk.latest_pnl
    assert pnl is not None
    assert (pnl["floating"], pnl["realizedToday"], pnl["total"]) == (-4_120.0, -632.0, -4_752.0)
    assert pnl["clientsByBook"]["ABOOK"]["total"] == 1_960.0 and pnl["tradingDay"] == "2026-01-20"
    assert of(topic.outputs, "pnl"), "published (coalesced)"
    CODEC.encode("PnlChange", pnl)
    for _ in range(2):  # a refresh round starts, then writes every account again
        topic.now += 1.0
        topic.outputs += topic.stage.due(topic.now)
    latest = {r["accountId"]: r for r in of(topic.outputs, "account_risk") if r is not None}
    assert latest["acc-A"]["exposure"] == 66_000.0 and latest["acc-A"]["pnlToday"] == 4_906.75
    assert latest["acc-B"]["realizedToday"] == 32.0 and latest["acc-C"]["exposure"] == 33_000.0
    top = of(topic.outputs, "account_risk_top")[-1]
    CODEC.encode("AccountRiskTop", top)
    assert [r["accountId"] for r in top["byExposure"]] == ["acc-A", "acc-B", "acc-C"]
    exposure = of(topic.outputs, "exposure")[-1]
    # EUR +10,000 (11,000 USD) and JPY +46,875 long, GBP 32,625 short: NOP 57,875.
    assert exposure["basis"] == "bbook-net" and exposure["basisExposure"] == 57_875.0


def test_an_account_with_nothing_left_is_a_tombstone_and_its_internal_key_is_deleted() -> None:
    topic = Topic(PipelineConfig())
    topic.feed(position("x1", account="acc-Z", t=T, volume=1_000.0, open_price=1.1))
    topic.feed(position("x1", 2, account="acc-Z", t=T + S, status="CLOSED", open_price=1.1))
    topic.now += PipelineConfig().risk_outputs.accounts_interval_s  # changed accounts are due
    topic.outputs += topic.stage.due(topic.now)
    gone = [r for r in topic.records if r.key and r.key.startswith(b"acct:") and not r.value]
    assert len(gone) == 1, "an empty partial, then a tombstone of its key"
    written = [(o.key, o.record) for o in topic.outputs if o.topic == "account_risk"]
    assert written[0][0] == "acc-Z" and written[0][1] is not None
    assert written[-1] == ("acc-Z", None), "a tombstone on the compacted account-risk topic"


def test_pnl_equals_a_risk_view_fed_directly_over_three_partitions() -> None:
    """The global stage's P&L equals RiskView's on the same inputs: stage 1 splits positions
    over partitions and sends each account's sums; nothing is lost or counted twice."""
    topic = Topic(PipelineConfig())
    inputs: list[Any] = []
    for i in range(40):
        account = f"acc-{i % 7}"
        side = "BUY" if i % 3 else "SELL"
        inputs.append(
            position(
                f"q{i}",
                account=account,
                side=side,
                volume=1_000.0 * (i + 1),
                open_price=1.08 + i / 1000,
                t=T + i * S,
                realized=0.0,
            )
        )
        if i % 4 == 3:
            inputs.append(
                position(
                    f"q{i - 1}",
                    2,
                    account=f"acc-{(i - 1) % 7}",
                    volume=500.0,
                    open_price=1.08 + (i - 1) / 1000,
                    t=T + i * S,
                    side="BUY" if (i - 1) % 3 else "SELL",
                    realized=-12.5 * i,
                    realized_delta=-12.5 * i,
                )
            )
    inputs.append(quote("EURUSD", 1.1, 1.1002, T + 50 * S))
    for record in inputs:
        topic.feed(record)
    expected = run(
        [
            r if "positionId" in r else ("EURUSD", r["bid"], r["ask"], r["eventTime"])
            for r in inputs
        ],
        partitions=3,
        config=RiskConfig(),
    ).pnl_change()
    assert topic.stage.risk.latest_pnl == expected  # fmt: skip


@pytest.mark.parametrize("compacted", [False, True], ids=["log", "compacted"])
def test_recovery_from_the_topic_gives_the_uninterrupted_figures(compacted: bool) -> None:
    """A snapshot after the morning (its risk state in pieces), the rest of the day after it:
    a stage recovered from the history gives the figures of the uninterrupted one, realised
    JPY at the rate of when it was realised (1/156.25, not today's 1/160)."""
    topic = Topic(PipelineConfig())
    day(topic)
    topic.snapshot()
    rest_of_day(topic)
    history = topic.compacted() if compacted else topic.records
    recovered, _ = GlobalStage.recover(topic.config, history, NOW)
    assert recovered.risk.view.pnl_change() == topic.stage.risk.view.pnl_change()
    for account in ("acc-A", "acc-B", "acc-C"):
        assert recovered.risk.view.account_risk(account) == topic.stage.risk.view.account_risk(
            account
        )
    assert recovered.latest_exposure == topic.stage.latest_exposure


def test_recovery_without_a_snapshot_books_realised_pnl_at_the_rates_of_the_replay() -> None:
    """Without a snapshot the view books realised P&L as it replays: the same figures when
    the rates did not move in between."""
    topic = Topic(PipelineConfig())
    day(topic)
    recovered, _ = GlobalStage.recover(topic.config, topic.records, NOW)
    assert recovered.risk.view.pnl_change() == topic.stage.risk.view.pnl_change()


def test_the_risk_state_is_written_in_pieces_within_the_message_limit() -> None:
    state = {
        "format": 1,
        "realized": {f"acc-{i}": [["EURUSD", "BBOOK", 1, "5"]] for i in range(500)},
    }
    messages, ref = risk_state_messages(state, 1, "id-1", piece_chars=1_000)
    assert ref["pieces"] == len(messages) > 10
    assert all(len(m.encode()) < 2_200 for m in messages)
    pieces = {m.key: m.encode() for m in messages}
    assert risk_state_from(ref, pieces) == state
    stale = risk_state_messages(state, 1, "id-0", piece_chars=1_000)[0]
    with pytest.raises(ValueError, match="another snapshot"):
        risk_state_from(ref, {**pieces, stale[3].key: stale[3].encode()})


def test_a_snapshot_alternates_slots_and_deletes_the_pieces_a_shorter_state_leaves() -> None:
    topic = Topic(PipelineConfig())
    day(topic)
    first = topic.stage.snapshot_messages()
    second = topic.stage.snapshot_messages()
    assert first[0].key.startswith("state:risk:0:") and second[0].key.startswith("state:risk:1:")
    assert first[-1].key == second[-1].key == "state"
    assert topic.stage.take_tombstones() == []


def test_a_partition_silent_since_the_snapshot_still_counts_after_recovery() -> None:
    """Exposure and the account of a positions partition whose latest partial came before the
    snapshot (nothing changed there since): the recovered stage still counts them."""
    topic = Topic(PipelineConfig())
    topic.feed(position("s1", account="acc-S", volume=10_000.0, open_price=1.08, t=T))
    topic.snapshot()
    topic.feed(quote("EURUSD", 1.1, 1.1002, T + S))
    recovered, _ = GlobalStage.recover(topic.config, topic.compacted(), NOW)
    assert recovered.latest_exposure is not None
    assert recovered.latest_exposure["totalExposure"] == 11_001.0
    assert recovered.latest_exposure == topic.stage.latest_exposure
    assert recovered.risk.view.account_risk("acc-S") == topic.stage.risk.view.account_risk("acc-S")


def test_account_partials_are_sent_at_most_once_per_interval_and_held_until_then() -> None:
    """With accounts_drain_s, a partition's changed accounts go out once per interval (the
    latest sums of each), and the partition says it has some waiting meanwhile (the worker
    holds its input offsets until they are sent)."""
    stage = InputStage(RoutingConfig(), accounts_drain_s=1.0)
    apply = stage.applier("positions")
    apply(0, position("h1", account="acc-H", t=T), 10.0)
    first = [m.key for m in stage.take(10.0)]
    assert first == ["pos:0", "acct:0:acc-H"], "the first change goes out at once"
    apply(0, position("h1", 2, account="acc-H", volume=50_000.0, t=T + S), 10.2)
    apply(0, position("h2", account="acc-H", t=T + 2 * S), 10.4)
    assert [m.key for m in stage.take(10.5)] == ["pos:0"]
    assert stage.positions.undrained(0)
    assert stage.take_accounts(10.9) == []
    (later,) = stage.take_accounts(11.0)
    assert later.key == "acct:0:acc-H" and not stage.positions.undrained(0)
    groups = later.value["partial"]["groups"]
    assert [g[3] for g in groups] == [2], "both positions, in one partial"


def _busy_day(topic: Topic, accounts: int) -> list[dict[str, Any]]:
    """``accounts`` accounts long EURUSD, the i-th (i+1) x 10,000, opened at 1.0800; a quote
    at 1.1000/1.1002 puts the i-th at (i+1) x 200 USD floating."""
    positions = [
        position(f"b{i}", account=f"acc-{i:03d}", volume=10_000.0 * (i + 1), open_price=1.08, t=T)
        for i in range(accounts)
    ]
    topic.feed(*positions, quote("EURUSD", 1.1, 1.1002, T + S))
    return positions


def test_the_top_n_is_computed_a_few_candidates_per_tick_and_equals_the_exact_ranking() -> None:
    """A top-20 of 60 accounts has 40 candidates: no tick computes more than its share of
    exact figures (the rest of the worker's event loop waits behind each tick), and the
    record published after the last slice is the view's exact ranking."""
    topic = Topic(PipelineConfig())
    stage = topic.stage.risk
    view = stage.view
    computed: list[str] = []
    exact = view.account_risk
    view.account_risk = lambda a: (computed.append(a), exact(a))[1]  # type: ignore[method-assign]
    _busy_day(topic, 60)
    ticks, per_tick = 0, []
    while not of(topic.outputs, "account_risk_top"):
        computed.clear()
        topic.now += 0.005
        topic.outputs += topic.stage.due(topic.now)
        per_tick.append(len(computed))
        ticks += 1
        assert ticks < 100, "the top-N is published"
    assert ticks > 1, "in slices, not at once"
    assert max(per_tick) <= risk_stage.SURVEY_PER_TICK + risk_stage.ACCOUNTS_PER_TICK
    view.account_risk = exact  # type: ignore[method-assign]
    (top,) = of(topic.outputs, "account_risk_top")
    assert top == dict(view.top()), "no input in between: the exact ranking of this moment"
    assert [r["accountId"] for r in top["byFloatingPnl"]][:3] == ["acc-059", "acc-058", "acc-057"]


def test_winning_accounts_are_alerted_after_the_check_s_slices() -> None:
    """Accounts at or above the winning level (here 5,000 USD: accounts 25 and up) are
    raised, each once, half a top interval after the top-N; one that falls back below the
    margin resolves at the next check."""
    rules = RulesConfig(account_winning_usd=5_000.0, account_winning_margin_usd=500.0)
    topic = Topic(PipelineConfig(rules=rules))
    positions = _busy_day(topic, 40)
    for _ in range(200):  # two seconds of ticks
        topic.now += 0.01
        topic.outputs += topic.stage.due(topic.now)
    raised = [a for a in of(topic.outputs, "alerts") if a["ruleId"] == "account.winning.high"]
    winners = {f"acc-{i:03d}" for i in range(24, 40)}  # (i + 1) x 200 >= 5,000
    assert sorted(a["title"].rsplit(": ", 1)[1] for a in raised) == sorted(winners)
    assert {a["state"] for a in raised} == {"RAISED"}
    # acc-039 closes its position, no realised P&L reported: its P&L today falls to 0.
    closed = dict(positions[-1], version=2, status="CLOSED", volume=0.0, eventTime=T + 2 * S)
    topic.outputs.clear()
    topic.feed(closed)
    for _ in range(200):
        topic.now += 0.01
        topic.outputs += topic.stage.due(topic.now)
    later = [a for a in of(topic.outputs, "alerts") if a["ruleId"] == "account.winning.high"]
    assert [(a["title"].rsplit(": ", 1)[1], a["state"]) for a in later] == [("acc-039", "RESOLVED")]


def test_the_refresh_round_writes_every_account_evenly_over_refresh_s() -> None:
    """300 accounts, refresh_s 10: after a round starts, each second writes about a tenth of
    them again (not all in the first ticks), and the round is complete after 10 s."""
    topic = Topic(PipelineConfig(risk_outputs=RiskOutputs(refresh_s=10.0, accounts_interval_s=60)))
    _busy_day(topic, 300)
    for _ in range(2_000):  # the changed accounts, 5 a tick, and the round's start
        topic.now += 0.005
        topic.outputs += topic.stage.due(topic.now)
    start = topic.now
    per_second = []
    for _ in range(10):
        topic.outputs.clear()
        for _ in range(200):
            topic.now += 0.005
            topic.outputs += topic.stage.due(topic.now)
        per_second.append(len(of(topic.outputs, "account_risk")))
    assert sum(per_second) == 300 and topic.now - start == pytest.approx(10.0)
    assert all(25 <= n <= 35 for n in per_second), per_second


def test_pnl_is_computed_once_per_published_record_not_once_per_batch() -> None:
    """A quote batch every 10 ms for half a second: at most one P&L record per 50 ms is
    published, each computation is one that is published, and the last quote's P&L goes
    out when the interval ends."""
    topic = Topic(PipelineConfig())
    _busy_day(topic, 10)
    view = topic.stage.risk.view
    computed: list[int] = []
    exact = view.pnl_change
    view.pnl_change = lambda: (computed.append(1), exact())[1]  # type: ignore[method-assign]
    topic.outputs.clear()
    for i in range(50):
        bid = 1.1 + i * 1e-5
        record = quote("EURUSD", bid, bid + 0.0002, T + 2 * S + i * 10_000)
        topic.stage1.applier("quotes")(0, record, topic.now)
        values = topic.append(topic.stage1.take(topic.now))
        topic.outputs += topic.stage.apply_encoded(values, topic.now)
        for _ in range(2):
            topic.now += 0.005
            topic.outputs += topic.stage.due(topic.now)
    published = of(topic.outputs, "pnl")
    assert len(computed) == len(published), "every P&L computed is published"
    assert 9 <= len(published) <= 11, "at most one per 50 ms over 0.5 s"
    topic.now += 0.05
    topic.outputs += topic.stage.due(topic.now)
    assert of(topic.outputs, "pnl")[-1] == exact(), "the last quote's P&L, once the interval ends"


def test_a_scoring_waits_while_many_score_rows_are_stale_and_the_ticks_catch_up() -> None:
    """300 accounts changed at once: no tick rewrites them all (a scoring would, at 100,000
    accounts that is seconds); the ticks rewrite a few dozen each until few are left, then
    the top-N is scored and published, equal to the exact ranking."""
    topic = Topic(PipelineConfig())
    view = topic.stage.risk.view
    topic.stage1.applier("quotes")(0, quote("EURUSD", 1.1, 1.1002, T), topic.now)
    for i in range(300):
        record = position(f"c{i}", account=f"acc-{i:03d}", volume=1e4 * (i + 1), open_price=1.08)
        topic.stage1.applier("positions")(0, record, topic.now)
    values = topic.append(topic.stage1.take(topic.now))
    topic.outputs += topic.stage.apply_encoded(values, topic.now)
    stale = [view.refresh_rows(0)]
    assert stale[0] == 300
    while not of(topic.outputs, "account_risk_top"):
        topic.now += 0.005
        topic.outputs += topic.stage.due(topic.now)
        stale.append(view.refresh_rows(0))
        assert len(stale) < 1_000, "the top-N is published"
    rewritten = [a - b for a, b in zip(stale, stale[1:], strict=False)]
    cap = risk_stage.CATCH_UP_ROWS_PER_TICK + risk_stage.STALE_ROWS_TO_SCORE
    assert max(rewritten) <= cap < 300, "never all at once"
    (top,) = of(topic.outputs, "account_risk_top")
    assert top == dict(view.top()) and top["accounts"] == 300
