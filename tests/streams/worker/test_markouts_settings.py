"""Settings of ``rtx-analytics markouts``: its variables, the worker's it shares, and the
``[markouts]`` table of the config file (errors name the variable or key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.markouts.config import MarkoutConfig
from streams.settings import ConfigError
from streams.worker.markouts.run import load
from streams.worker.markouts.settings import MarkoutsSettings


def test_defaults() -> None:
    s = MarkoutsSettings.from_env({})
    assert s == MarkoutsSettings()
    assert (s.role, s.metrics_port, s.state_snapshot_s, s.tick_s) == ("all", 9465, 30.0, 5)
    assert s.group("stage") == "rtx-analytics.markouts.stage"
    assert s.group("boards") == "rtx-analytics.markouts.boards"


def test_variables_and_the_shared_worker_ones() -> None:
    s = MarkoutsSettings.from_env(
        {
            "RTX_APP_ID": "desk-2",
            "RTX_MARKOUTS_ROLE": "Boards",
            "RTX_MARKOUTS_METRICS_PORT": "0",
            "RTX_MARKOUTS_STATE_SNAPSHOT_S": "2.5",
            "RTX_MARKOUTS_TICK_S": "10",
            "RTX_WORKER_BATCH_MAX": "500",
        }
    )
    assert (s.app_id, s.role, s.metrics_port, s.state_snapshot_s, s.tick_s, s.batch_max) == (
        "desk-2", "boards", 0, 2.5, 10, 500,
    )  # fmt: skip
    assert s.group("boards") == "desk-2.markouts.boards"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("RTX_MARKOUTS_ROLE", "global"),
        ("RTX_MARKOUTS_METRICS_PORT", "70000"),
        ("RTX_MARKOUTS_STATE_SNAPSHOT_S", "0"),
        ("RTX_MARKOUTS_TICK_S", "0"),
        ("RTX_APP_ID", "a b"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        MarkoutsSettings.from_env({name: raw})


def test_the_markouts_table_and_symbol_overrides_come_from_the_config_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rtx.toml"
    path.write_text(
        "[markouts]\nhorizons_ms = [500, 2000]\nscore_horizon_ms = 2000\nmin_trades = 10\n"
        '[exposure.symbols]\nGER40 = { base = "GER40", quote = "EUR" }\n'
    )
    config, overrides = load(MarkoutsSettings(config_file=str(path)))
    assert config == MarkoutConfig(horizons_ms=(500, 2000), score_horizon_ms=2000, min_trades=10)
    assert overrides == {"GER40": ("GER40", "EUR")}
    assert load(MarkoutsSettings()) == (MarkoutConfig(), {})


def test_an_unknown_key_of_the_markouts_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rtx.toml"
    path.write_text("[markouts]\nhorizon_ms = [1000]\n")
    with pytest.raises(ConfigError, match=r"markouts\.horizon_ms"):
        load(MarkoutsSettings(config_file=str(path)))


def test_the_example_file_documents_the_defaults() -> None:
    example = Path(__file__).resolve().parents[3] / "infra" / "rtx.example.toml"
    assert load(MarkoutsSettings(config_file=str(example)))[0] == MarkoutConfig()
