"""docker-compose.yml stays runnable: every app service is a real `nurture` command."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from nurture.cli import main
from nurture.core.config import PLACEHOLDER_SECRET, Settings, get_settings
from tests.processes import child_env, free_port, running, wait_for

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _app_services() -> dict[str, list[str]]:
    return {
        name: svc["command"]
        for name, svc in COMPOSE["services"].items()
        if isinstance(svc.get("command"), list) and svc["command"][0] == "nurture"
    }


def test_compose_has_every_part_of_the_service() -> None:
    assert set(COMPOSE["services"]) >= {
        "postgres",
        "redis",
        "web",
        "worker",
        "beat",
        "mailpit",
        "flower",
        "setup",
    }
    assert set(_app_services()) == {"setup", "web", "worker", "beat", "flower"}


@pytest.mark.parametrize("service", sorted(_app_services()))
def test_compose_commands_parse_with_the_cli(service: str) -> None:
    args = _app_services()[service][1:]
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output


def test_compose_environment_names_real_settings() -> None:
    env = COMPOSE["x-nurture"]["environment"]
    fields = {f"NURTURE_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields


def test_compose_ships_no_secret_and_requires_one() -> None:
    # `${VAR:?message}` makes compose refuse to start while the variable is unset or empty.
    every = [COMPOSE["x-nurture"]["environment"]] + [
        svc.get("environment") or {} for svc in COMPOSE["services"].values()
    ]
    values = {env["NURTURE_SECRET_KEY"] for env in every if "NURTURE_SECRET_KEY" in env}
    assert len(values) == 1, "one key, shared by every service"
    value = values.pop()
    assert value.startswith("${NURTURE_SECRET_KEY:?")
    assert value.endswith("}")
    assert "secrets.token_urlsafe" in value  # the message says how to make one
    assert PLACEHOLDER_SECRET not in (ROOT / "docker-compose.yml").read_text()


def test_setup_migrates_and_loads_defaults_once() -> None:
    first = CliRunner().invoke(main, ["setup"])
    assert first.exit_code == 0, first.output
    assert "acute-basics (version 1)" in first.output
    again = CliRunner().invoke(main, ["setup"])
    assert "Sequences already loaded" in again.output


@pytest.mark.slow
def test_flower_serves_its_dashboard(tmp_path: Path) -> None:
    if not get_settings().resolved_broker_url.startswith("redis"):
        pytest.skip("Flower needs a broker with remote control and events (the Redis run)")
    port = free_port()
    log = tmp_path / "flower.log"
    with running(["flower", "--port", str(port)], env=child_env(), cwd=tmp_path, log=log):
        ok = wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=5).status_code == 200,
            timeout=60,
            what="flower",
            log=log,
        )
    assert ok
