"""The worker's configuration: the example file loads to the defaults; errors name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from streams import exposure as ex
from streams.settings import ConfigError
from streams.worker.pipeline import PositionsStage, load_document, pipeline_config
from streams.worker.settings import WorkerSettings
from tests.helpers.exposure import pos

EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "rtx.example.toml"


def test_example_file_gives_the_built_in_defaults() -> None:
    from_file = pipeline_config(WorkerSettings(), load_document(str(EXAMPLE)))
    built_in = pipeline_config(WorkerSettings(), {})
    assert from_file == built_in
    assert from_file.limits == ex.ExposureLimits()
    assert from_file.bands.level(80.0) == "medium"


def test_variables_override_the_file() -> None:
    settings = WorkerSettings(exposure_limit_usd=5_000.0, routing_window_s=10)
    config = pipeline_config(settings, load_document(str(EXAMPLE)))
    assert config.limits.global_usd == 5_000.0
    assert config.routing.window_s == 10


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[exposure.limits]\nglobal_usd = -1", "exposure.limits.global_usd"),
        ("[exposure.risk_bands]\nmedium_pct = 90\nhigh_pct = 80", "exposure.risk_bands"),
        ("[exposure.symbols]\nUS30 = 5", "exposure.symbols.US30"),
        ("[routing]\nwindow_s = 0", "routing.window_s"),
        ("[rules.exposure]\ncritical_pct = 10", "rules.exposure"),
        ('[exposure]\nbasis = "net"', "exposure.basis"),
        ("[risk]\ntop_n = 0", "risk.top_n"),
        ('[risk]\nday_zone = "Mars/Olympus"', "risk.day_zone"),
        ("[risk]\nrefresh_s = 0", "risk.refresh_s"),
        ("[risk]\nbasis = 'gross'", "risk.basis"),
        ("[rules.pnl]\ndaily_loss_critical_usd = 10", "rules.pnl"),
    ],
)
def test_bad_values_name_the_key(toml: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        pipeline_config(WorkerSettings(), tomllib.loads(toml))


def test_unreadable_or_invalid_file_names_the_variable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[exposure\n")
    with pytest.raises(ConfigError, match="RTX_CONFIG_FILE"):
        load_document(str(bad))
    with pytest.raises(ConfigError, match="RTX_CONFIG_FILE"):
        WorkerSettings.from_env({"RTX_CONFIG_FILE": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("RTX_EXPOSURE_LIMIT_USD", "0"),
        ("RTX_EXPOSURE_COALESCE_MS", "-1"),
        ("RTX_ROUTING_WINDOW_S", "x"),
        ("RTX_WORKER_METRICS_PORT", "70000"),
        ("RTX_APP_ID", "bad id"),
        ("RTX_WORKER_ROLE", "both"),
        ("RTX_WORKER_MAX_CLOSED", "-5"),
        ("RTX_WORKER_CLOSED_RETENTION_S", "1h"),
        ("RTX_EXPOSURE_BASIS", "net"),
        ("RTX_WORKER_ACCOUNTS_DRAIN_MS", "-1"),
    ],
)
def test_bad_worker_variable_names_it(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=var):
        WorkerSettings.from_env({var: value})


def test_the_exposure_basis_is_bbook_net_unless_the_file_or_the_variable_says_otherwise() -> None:
    """[exposure] basis, then RTX_EXPOSURE_BASIS on top; risk measures accounts on the same
    basis, with the [risk] table's top-N and trading-day roll."""
    assert pipeline_config(WorkerSettings(), {}).basis == "bbook-net"
    doc = tomllib.loads(
        '[exposure]\nbasis = "gross"\n[risk]\ntop_n = 5\nday_roll = "16:00"\nrefresh_s = 60'
    )
    config = pipeline_config(WorkerSettings(), doc)
    assert (config.basis, config.risk.basis, config.risk.top_n) == ("gross", "gross", 5)
    assert config.risk.day_roll == "16:00" and config.risk_outputs.refresh_s == 60.0
    env = WorkerSettings.from_env({"RTX_EXPOSURE_BASIS": "BBOOK-GROSS"})
    assert pipeline_config(env, doc).basis == pipeline_config(env, doc).risk.basis == "bbook-gross"


def test_closed_id_bounds_reach_every_book() -> None:
    """The env bounds on remembered closed ids are what each partition's book applies: with
    RTX_WORKER_MAX_CLOSED=2 a third close forgets the oldest, so its stale reopen counts again."""
    settings = WorkerSettings.from_env(
        {"RTX_WORKER_MAX_CLOSED": "2", "RTX_WORKER_CLOSED_RETENTION_S": "60"}
    )
    assert (settings.max_closed, settings.closed_retention_s) == (2, 60)
    stage = PositionsStage(
        closed_retention_us=settings.closed_retention_s * 1_000_000,
        max_closed=settings.max_closed,
    )
    t0 = 1_796_000_000_000_000

    for partition in (0, 3):
        for i, pid in enumerate("abc"):
            stage.apply(partition, pos(pid, 1, t=t0 + i))
            stage.apply(partition, pos(pid, 2, status="CLOSED", t=t0 + 10 + i))
        book = stage.book(partition)
        assert book.remembered_closed == 2
        assert book.version("a") is None and book.version("c") == 2
        # 61 s later (event time) the retention forgets the rest on the next event.
        stage.apply(partition, pos("d", 1, t=t0 + 61_000_000 + 20))
        assert book.remembered_closed == 0


def test_closed_id_defaults_bound_memory() -> None:
    settings = WorkerSettings.from_env({})
    assert settings.max_closed == ex.MAX_CLOSED == PositionsStage().max_closed
