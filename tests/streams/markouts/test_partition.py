"""The partition stage and the boards feed (streams/markouts/partition.py, feed.py): what the
``rtx-analytics markouts`` shell runs, tested without Kafka.

- However Kafka's fetches mix quotes and decisions, a partition stage gives exactly the markouts
  and samples of the labelled scenario's reference run (one stage fed in arrival order), while a
  bare stage fed in fetch order would drop decisions as late: the merge is what makes it exact.
- A stage snapshotted at any point and fed again from the snapshot's offsets gives the same
  records (the shell writes each trade once by its id).
- The boards feed, fed the stages' messages, finds the informed accounts; restored from a state
  at any point and fed the rest, it writes exactly what an uninterrupted one writes, alert ids
  included.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

from streams.markouts.config import MarkoutConfig
from streams.markouts.feed import BoardsFeed, Out
from streams.markouts.hop import MARKOUT, HopMessage, decode_json, encode_json
from streams.markouts.partition import DECISIONS, POSITIONS, QUOTES, PartitionStage
from streams.markouts.records import TradeMarkout
from streams.markouts.stage import MarkoutStage
from tests.helpers.markouts import USD_RATE, Run, Scenario, run, scenario

CONFIG = MarkoutConfig()
Topics = dict[str, list[dict[str, Any]]]


@cache
def reference() -> tuple[Scenario, Run, Topics]:
    sc = scenario()
    topics: Topics = {QUOTES: [], DECISIONS: [], POSITIONS: []}
    kinds = {"quote": QUOTES, "decision": DECISIONS, "position": POSITIONS}
    for kind, rec in sc.events:
        if kind in kinds:
            topics[kinds[kind]].append(rec)
    return sc, run(sc.events), topics


def fetches(topics: Topics, seed: int, start: dict[str, int] | None = None) -> Any:
    """(source, [(offset, record)]) chunks as fetches might hand them out: random sources,
    random sizes up to 3,000 records, from ``start`` offsets."""
    rng = random.Random(seed)
    pos = dict(start or dict.fromkeys(topics, 0))
    while any(pos[s] < len(topics[s]) for s in topics):
        source = rng.choice(sorted(topics))
        chunk = topics[source][pos[source] : pos[source] + rng.randint(1, 3000)]
        yield source, [(pos[source] + i, r) for i, r in enumerate(chunk)], pos
        pos[source] += len(chunk)


def feed_stage(
    stage: PartitionStage, topics: Topics, seed: int, stop_after: int | None = None
) -> tuple[list[TradeMarkout], list[HopMessage]]:
    """Fetch chunks into the stage, releasing after each (``stop_after`` chunks at most)."""
    markouts: list[TradeMarkout] = []
    messages: list[HopMessage] = []
    start = {s: stage.offsets[s] or 0 for s in topics}
    for n, (source, chunk, pos) in enumerate(fetches(topics, seed, start)):
        if stop_after is not None and n == stop_after:
            break
        stage.offer(source, chunk)
        pos_after = {**pos, source: pos[source] + len(chunk)}
        for s in topics:
            stage.caught_up(s, pos_after[s] >= len(topics[s]))
        m, h = stage.take()
        markouts += m
        messages += h
    return markouts, messages


def finish(stage: PartitionStage, end: int) -> tuple[list[TradeMarkout], list[HopMessage]]:
    """The shell advances a partition with nothing left to read to the newest event time."""
    stage.advance(end)
    return stage.take()


def by_id(markouts: list[TradeMarkout]) -> dict[str, TradeMarkout]:
    out: dict[str, TradeMarkout] = {}
    for m in markouts:
        assert out.setdefault(m["tradeId"], m) == m, "a trade marked out twice, differently"
    return out


def test_any_fetch_interleaving_gives_the_reference_markouts_and_samples() -> None:
    sc, ref, topics = reference()
    end = sc.events[-1][1]["eventTime"]
    for seed in (1, 2, 3):
        stage = PartitionStage(0, CONFIG, USD_RATE)
        markouts, messages = feed_stage(stage, topics, seed)
        more, last = finish(stage, end)
        assert stage.merge.forced == 0
        assert sorted(markouts + more, key=lambda m: m["tradeId"]) == sorted(
            ref.markouts, key=lambda m: m["tradeId"]
        )
        samples = [h.record for h in messages + last if h.kind == "s"]
        assert sorted(samples, key=lambda s: s["sampleId"]) == sorted(
            ref.samples, key=lambda s: s["sampleId"]
        )
        assert stage.offsets == {s: len(topics[s]) for s in topics}


def test_held_back_to_a_slower_partitions_pace_the_stage_gives_the_same_markouts() -> None:
    """Released no further than a limit that lags behind what it read (another partition, still
    catching up, is slower), the stage's clock never passes the limit; once the limit lifts the
    markouts are the reference's."""
    sc, ref, topics = reference()
    end = sc.events[-1][1]["eventTime"]
    quote_times = [q["eventTime"] for q in topics[QUOTES]]
    stage = PartitionStage(0, CONFIG, USD_RATE)
    markouts: list[TradeMarkout] = []
    held = 0
    for source, chunk, pos in fetches(topics, 4):
        stage.offer(source, chunk)
        pos_after = {**pos, source: pos[source] + len(chunk)}
        for s in topics:
            stage.caught_up(s, pos_after[s] >= len(topics[s]))
        until = quote_times[pos_after[QUOTES] // 3]  # the other partition read a third as far
        markouts += stage.take(until)[0]
        clock = stage.stage.clock
        assert clock is None or clock <= until
        held = max(held, len(stage.merge))
    assert held > 1000  # the limit did hold records back
    markouts += stage.take()[0]
    markouts += finish(stage, end)[0]
    assert sorted(markouts, key=lambda m: m["tradeId"]) == sorted(
        ref.markouts, key=lambda m: m["tradeId"]
    )


def test_without_the_merge_the_same_fetches_would_drop_decisions_as_late() -> None:
    """The fetch patterns above are adversarial: a bare stage loses trades to them."""
    _, _, topics = reference()
    bare = MarkoutStage(CONFIG, USD_RATE)
    for source, chunk, _ in fetches(topics, 1):
        for _, record in chunk:
            if source == QUOTES:
                bare.on_quote(record)
            elif source == DECISIONS:
                bare.on_decision(record)
    assert bare.counters["lateDecisions"] > 10


def test_a_restored_stage_fed_again_from_its_offsets_gives_the_same_records() -> None:
    sc, ref, topics = reference()
    end = sc.events[-1][1]["eventTime"]
    for cut in (3, 20, 45):
        first = PartitionStage(0, CONFIG, USD_RATE)
        before, _ = feed_stage(first, topics, seed=7, stop_after=cut)
        snapshot = first.snapshot()
        later, _ = feed_stage(first, topics, seed=8)  # what the dead process wrote after it
        second = PartitionStage(0, CONFIG, USD_RATE)
        second.restore(snapshot)
        after, _ = feed_stage(second, topics, seed=9)
        more, _ = finish(second, end)
        assert not set(by_id(before)) & set(by_id(after + more))  # nothing before is redone
        assert set(by_id(later)) <= set(by_id(after + more))  # the redone equal what was written
        assert by_id(before + after + more) == by_id(ref.markouts)


def test_positions_pass_through_only_openings_and_closings() -> None:
    _, _, topics = reference()
    stage = PartitionStage(2, CONFIG, USD_RATE)
    positions = topics[POSITIONS][:50]
    versions = [dict(p, version=2, status="OPEN") for p in positions if p["version"] == 1][:5]
    offered = [*positions, *versions]
    stage.offer(POSITIONS, [(100 + i, p) for i, p in enumerate(offered)] + [(999, None)])
    _, messages = stage.take()
    assert [h.key for h in messages] == [f"p:{p['positionId']}" for p in positions]
    assert set(messages[0].record) == {"positionId", "version", "accountId", "eventTime", "status"}
    assert stage.offsets[POSITIONS] == 1000 and stage.invalid == 1


def test_invalid_records_only_move_their_offset() -> None:
    _, _, topics = reference()
    stage = PartitionStage(0, CONFIG, USD_RATE)
    quotes = [(i, q) for i, q in enumerate(topics[QUOTES][:10])]
    stage.offer(QUOTES, [*quotes[:5], (5, None), *quotes[6:]])
    stage.caught_up(DECISIONS, True)
    stage.take()
    assert stage.offsets[QUOTES] == 10 and stage.invalid == 1
    assert sum(len(t) for t in stage.stage.tapes.values()) == 9


def test_the_stage_ticks_its_clock_into_the_boards_every_period() -> None:
    _, _, topics = reference()
    stage = PartitionStage(4, CONFIG, USD_RATE, tick_s=5)
    stage.offer(QUOTES, list(enumerate(topics[QUOTES][:2000])))
    stage.caught_up(DECISIONS, True)
    _, messages = stage.take()
    ticks = [h.record["t"] for h in messages if h.kind == "t"]
    assert ticks and all(h.key == "t:4" for h in messages if h.kind == "t")
    periods = [t // 5_000_000 for t in ticks]
    assert periods == sorted(set(periods))
    assert len(periods) >= 2


def test_json_messages_round_trip() -> None:
    _, ref, _ = reference()
    sample = HopMessage("s", "s:x", dict(ref.samples[0]))
    back = decode_json(encode_json(sample))
    assert (back.kind, back.record) == ("s", sample.record)


# --- the boards feed --------------------------------------------------------------------------


@cache
def stage_messages() -> list[tuple[str, dict[str, Any]]]:
    """The messages the stage sends the boards, in the order it produced them."""
    sc, _, topics = reference()
    stage = PartitionStage(0, CONFIG, USD_RATE)
    out: list[tuple[str, dict[str, Any]]] = []
    start = dict.fromkeys(topics, 0)
    for source, chunk, pos in fetches(topics, 5, start):
        stage.offer(source, chunk)
        after = {**pos, source: pos[source] + len(chunk)}
        for s in topics:
            stage.caught_up(s, after[s] >= len(topics[s]))
        markouts, messages = stage.take()
        out += [(MARKOUT, dict(m)) for m in markouts]
        out += [(h.kind, h.record) for h in messages]
    markouts, messages = finish(stage, sc.events[-1][1]["eventTime"])
    return out + [(MARKOUT, dict(m)) for m in markouts] + [(h.kind, h.record) for h in messages]


def feed_all(feed: BoardsFeed, messages: list[tuple[str, dict[str, Any]]]) -> list[Out]:
    out: list[Out] = []
    for i, (kind, record) in enumerate(messages):
        feed.apply(kind, record)
        if i % 97 == 0:  # the shell drains once per batch
            out += feed.drain()
    return out + feed.drain()


def test_the_feed_finds_the_informed_accounts_and_advises_the_a_book() -> None:
    sc, _, _ = reference()
    out = feed_all(BoardsFeed(CONFIG), stage_messages())
    raised = {o.record["title"].rsplit(": ", 1)[1] for o in out if o.topic == "alerts"}
    assert raised == sc.informed
    advice = {o.key: o.record for o in out if o.topic == "routing_advice"}
    assert {a for a, r in advice.items() if r["recommendedBook"] == "ABOOK"} == sc.informed
    accounts = {o.key for o in out if o.topic == "account_toxicity"}
    assert accounts == sc.informed | sc.noise
    lps = {o.key: o.record for o in out if o.topic == "lp_markouts"}
    assert {lp for lp, r in lps.items() if r["lastLookSuspected"]} == sc.last_look_lps
    curves = {o.key for o in out if o.topic == "markout_curves"}
    assert {"*|ABOOK", "*|BBOOK", "EURUSD|BBOOK"} <= curves


def test_a_restored_feed_writes_what_an_uninterrupted_one_writes() -> None:
    messages = stage_messages()
    uninterrupted = BoardsFeed(CONFIG)
    whole_alerts = [o.record for o in feed_all(uninterrupted, messages) if o.topic == "alerts"]
    for cut in (500, 2500, 6000):
        first = BoardsFeed(CONFIG)
        out = feed_all(first, messages[:cut])
        state = first.state()
        second = BoardsFeed(CONFIG)
        second.restore(state)
        out += feed_all(second, messages[cut:])
        assert [o.record for o in out if o.topic == "alerts"] == whole_alerts
        assert second.state() == uninterrupted.state()


def test_the_feed_counts_and_levels() -> None:
    sc, _, _ = reference()
    feed = BoardsFeed(CONFIG)
    feed_all(feed, stage_messages())
    assert feed.levels()["toxic"] == len(sc.informed)
    assert set(feed.counters()) == {
        "noAccount",
        "ignoredMarkouts",
        "ignoredHoldings",
        "unknownOpening",
    }
    assert feed.messages == len(stage_messages())
