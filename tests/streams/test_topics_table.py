"""The topic table's markout topics (pure): retention from the settings, compaction where the
latest record per key is the truth, one partition where order matters."""

from __future__ import annotations

from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, DAY_MS, table_rows


def test_trade_markouts_retention_follows_the_setting() -> None:
    spec = BY_LOGICAL["trade_markouts"]
    default = spec.desired_configs(KafkaSettings.from_env({}))
    longer = spec.desired_configs(KafkaSettings.from_env({"RTX_MARKOUTS_RETENTION_DAYS": "90"}))
    assert default["cleanup.policy"] == "delete"
    assert default["retention.ms"] == str(30 * DAY_MS)
    assert longer["retention.ms"] == str(90 * DAY_MS)
    assert spec.key == "tradeId" and spec.value_schemas == ("TradeMarkout",)
    rows = {r["topic"]: r for r in table_rows(KafkaSettings.from_env({"RTX_TOPIC_PREFIX": "x."}))}
    assert rows["x.trade.markouts"]["configs"]["retention.ms"] == str(30 * DAY_MS)


def test_routing_advice_is_compacted_without_a_time_limit() -> None:
    """A routing engine reads the latest advice of every account, however old it is."""
    configs = BY_LOGICAL["routing_advice"].desired_configs(KafkaSettings())
    assert configs["cleanup.policy"] == "compact"
    assert "retention.ms" not in configs
    assert BY_LOGICAL["routing_advice"].key == "accountId"


def test_latest_value_topics_are_compacted() -> None:
    for logical in ("account_toxicity", "lp_markouts", "markout_curves", "markouts_state"):
        assert "compact" in BY_LOGICAL[logical].desired_configs(KafkaSettings())["cleanup.policy"]


def test_the_boards_input_and_state_have_one_partition() -> None:
    """The boards stage reads one ordered log (so a restart replays the same order), and the
    snapshots live in one compacted partition that may hold large values."""
    for logical in ("markouts_internal", "markouts_state"):
        assert BY_LOGICAL[logical].partition_count(KafkaSettings()) == 1
        assert BY_LOGICAL[logical].kind == "internal"
    state = BY_LOGICAL["markouts_state"].desired_configs(KafkaSettings())
    assert int(state["max.message.bytes"]) >= 16 * 1024 * 1024


def test_exposure_pnl_and_account_risk_keep_a_month_by_default_and_follow_the_setting() -> None:
    """A month's charts (``replay exposure|pnl|accounts``): 31 days, RTX_RISK_RETENTION_DAYS."""
    longer = KafkaSettings.from_env({"RTX_RISK_RETENTION_DAYS": "92"})
    for logical in ("exposure", "pnl", "account_risk", "account_risk_top"):
        spec = BY_LOGICAL[logical]
        assert spec.desired_configs(KafkaSettings())["retention.ms"] == str(31 * DAY_MS), logical
        assert spec.desired_configs(longer)["retention.ms"] == str(92 * DAY_MS), logical
    assert BY_LOGICAL["pnl"].value_schemas == ("PnlChange",)
    assert BY_LOGICAL["account_risk_top"].value_schemas == ("AccountRiskTop",)


def test_account_risk_is_compacted_by_account_and_keeps_a_trading_day_of_changes() -> None:
    spec = BY_LOGICAL["account_risk"]
    configs = spec.desired_configs(KafkaSettings())
    assert spec.key == "accountId" and spec.value_schemas == ("AccountRisk",)
    assert configs["cleanup.policy"] == "compact,delete"
    assert configs["min.compaction.lag.ms"] == str(25 * 60 * 60 * 1000)


def test_positions_keep_every_version_of_a_trading_day() -> None:
    """Realised P&L today after a rebuild needs each position's versions of today: compaction
    leaves versions younger than 25 hours (the longest trading day) alone."""
    configs = BY_LOGICAL["positions"].desired_configs(KafkaSettings())
    assert configs["cleanup.policy"] == "compact"
    assert int(configs["min.compaction.lag.ms"]) >= 25 * 60 * 60 * 1000
