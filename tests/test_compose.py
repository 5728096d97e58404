"""docker-compose.yml stays runnable: every app service is a real `nurture` command.

The slow test here runs web, worker and beat with compose's commands and healthchecks, in
production mode, mailing through a local SMTP server, as the containers would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from email import message_from_bytes, policy
from email.message import EmailMessage
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from nurture.cli import main
from nurture.cli.run import worker_concurrency
from nurture.core.config import PLACEHOLDER_SECRET, Settings, get_settings
from tests.processes import child_env, free_port, running, wait_for

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DEV = yaml.safe_load((ROOT / "docker-compose.dev.yml").read_text())
SETTINGS = {f"NURTURE_{name.upper()}" for name in Settings.model_fields}
# Read by docker-compose.yml itself rather than by Nurture.
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD", "WEB_PORT", "PROXY_ADDRESS", "PROXY_SUBNET"}
NURTURE_SERVICES = ("setup", "web", "worker", "beat")


def _app_services(compose: dict[str, Any] = COMPOSE) -> dict[str, list[str]]:
    return {
        name: svc["command"]
        for name, svc in compose["services"].items()
        if isinstance(svc.get("command"), list) and svc["command"][0] == "nurture"
    }


def _environment(service: str) -> dict[str, str]:
    return dict(COMPOSE["services"][service].get("environment") or {})


def _seconds(duration: str) -> int:
    """A compose duration such as 4m or 30s, in seconds."""
    number, unit = re.fullmatch(r"(\d+)([sm])", duration).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit == "m" else 1)


def _readme_env() -> dict[str, str]:
    """The .env example of the README's docker compose section."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- compose-env -->", 1)[1].split("<!-- /compose-env -->", 1)[0]
    pairs = [
        line.split("=", 1)
        for line in block.splitlines()
        if "=" in line and not line.startswith(("#", "```"))
    ]
    return {pair[0]: pair[1] for pair in pairs}


def test_compose_has_every_part_of_the_service() -> None:
    assert set(COMPOSE["services"]) == {"postgres", "redis", "caddy", *NURTURE_SERVICES}
    assert set(_app_services()) == set(NURTURE_SERVICES)
    # Trying it out adds the mail catcher and the dashboard, never the default file.
    assert set(DEV["services"]) >= {"mailpit", "flower"}
    assert set(_app_services(DEV)) == {"flower"}


@pytest.mark.parametrize("service", [*NURTURE_SERVICES, "flower"])
def test_compose_commands_parse_with_the_cli(service: str) -> None:
    args = {**_app_services(), **_app_services(DEV)}[service][1:]
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output


def test_every_nurture_service_reads_the_whole_env_file() -> None:
    # Before: only the variables the file named reached the containers; clinic details,
    # senders, SMTP credentials and webhook keys put in .env went nowhere.
    for service in NURTURE_SERVICES:
        assert COMPOSE["services"][service]["env_file"] == ".env", service
    assert DEV["services"]["flower"]["env_file"] == ".env"
    named = [COMPOSE["x-nurture"]["environment"], DEV["x-dev-env"]] + [
        svc.get("environment") or {}
        for svc in [*COMPOSE["services"].values()]
        if svc.get("image") != "postgres:16"
    ]
    for env in named:
        assert set(env) <= SETTINGS, set(env) - SETTINGS


def test_the_default_file_is_production_and_development_is_the_override() -> None:
    for service in NURTURE_SERVICES:
        assert _environment(service)["NURTURE_ENV"] == "${NURTURE_ENV:-production}"
        assert DEV["services"][service]["environment"]["NURTURE_ENV"] == "development"
    assert "mailpit" not in COMPOSE["services"]
    assert "flower" not in COMPOSE["services"]


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
    assert DEV["services"]["flower"]["environment"]["NURTURE_SECRET_KEY"].startswith(
        "${NURTURE_SECRET_KEY:?"
    )
    for text in ((ROOT / "docker-compose.yml").read_text(), _readme_env()["NURTURE_SECRET_KEY"]):
        assert PLACEHOLDER_SECRET not in text
    assert _readme_env()["NURTURE_SECRET_KEY"] == ""  # the example makes you make one


def test_restart_policies_healthchecks_and_published_ports() -> None:
    services = COMPOSE["services"]
    for name, svc in services.items():
        assert svc["restart"] == ("no" if name == "setup" else "unless-stopped"), name
    for name, svc in DEV["services"].items():
        if "image" in svc:
            assert svc["restart"] == "unless-stopped", name
    for name in ("web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "nurture", "healthcheck", name]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert published == {
        "web": ["${WEB_PORT:-8000}:8000"],
        "caddy": ["80:80", "443:443", "443:443/udp"],
    }
    assert services["caddy"]["profiles"] == ["https"]
    # The mail catcher shows every patient's email and its signed links; Flower has no login.
    assert DEV["services"]["mailpit"]["ports"] == ["127.0.0.1:8025:8025"]
    assert DEV["services"]["flower"]["ports"] == ["127.0.0.1:5555:5555"]


def test_web_trusts_forwarded_for_from_caddy_only() -> None:
    services = COMPOSE["services"]
    trusted = _environment("web")["NURTURE_FORWARDED_ALLOW_IPS"]
    caddy = services["caddy"]["networks"]["proxy"]["ipv4_address"]
    assert trusted == caddy == "${PROXY_ADDRESS:-172.30.255.2}"
    subnet = COMPOSE["networks"]["proxy"]["ipam"]["config"][0]["subnet"]
    assert subnet == "${PROXY_SUBNET:-172.30.255.0/29}"
    assert ip_address("172.30.255.2") in ip_network("172.30.255.0/29")
    assert set(services["web"]["networks"]) == {"default", "proxy"}
    caddyfile = (ROOT / "Caddyfile").read_text()
    assert "{$NURTURE_BASE_URL} {" in caddyfile
    assert "reverse_proxy web:8000" in caddyfile
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["caddy"]["volumes"]


def test_the_worker_is_stopped_no_sooner_than_a_batch_can_take() -> None:
    worker = COMPOSE["services"]["worker"]
    defaults = Settings()
    rounds = -(-defaults.tick_batch_size // defaults.send_concurrency)
    smtp_timeout = 30  # the SMTP backend's socket timeout, the longest of the backends
    assert _seconds(worker["stop_grace_period"]) > rounds * smtp_timeout
    concurrency = worker["environment"]["NURTURE_WORKER_CONCURRENCY"]
    assert concurrency == "${NURTURE_WORKER_CONCURRENCY:-2}"
    assert worker_concurrency(Settings(broker_url="redis://x:6379/0")) == 2


def test_the_image_leaves_out_history_environments_and_data() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv", "nurture-data/", ".env"} <= set(ignored)


def test_the_readme_env_example_names_real_settings() -> None:
    env = _readme_env()
    assert {"NURTURE_SECRET_KEY", "NURTURE_BASE_URL"} <= set(env)
    unknown = {n for n in env if n not in SETTINGS and n not in COMPOSE_VARIABLES}
    assert not unknown, unknown


def test_every_setting_is_in_the_configuration_table() -> None:
    documented: set[str] = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        if not line.startswith("| `NURTURE_"):
            continue
        first = ""
        # A row may name several: `NURTURE_SMTP_HOST` / `_PORT` stands for NURTURE_SMTP_PORT.
        for name in re.findall(r"`(NURTURE_[A-Z_]+|_[A-Z_]+)`", line.split("|")[1]):
            if name.startswith("NURTURE_"):
                first = name
                documented.add(name)
            else:
                documented.add("_".join(first.split("_")[: -name.count("_")]) + name)
    assert SETTINGS <= documented, sorted(SETTINGS - documented)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_files_with_the_readme_env(tmp_path: Path) -> None:
    """What CI runs (.ci/run): `docker-compose config` needs no daemon."""
    for name in ("docker-compose.yml", "docker-compose.dev.yml", "Caddyfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {**_readme_env(), "NURTURE_SECRET_KEY": "k" * 48}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.dev.yml"]):
        args = [arg for name in files for arg in ("-f", name)]
        done = subprocess.run(
            ["docker-compose", *args, "--profile", "https", "config", "-q"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": os.environ["PATH"]},
        )
        assert done.returncode == 0, done.stderr
    (tmp_path / ".env").write_text("NURTURE_BASE_URL=https://x.example\n")  # no key
    done = subprocess.run(
        ["docker-compose", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode != 0
    assert "set NURTURE_SECRET_KEY" in done.stderr


def test_setup_migrates_and_loads_defaults_once() -> None:
    first = CliRunner().invoke(main, ["setup"])
    assert first.exit_code == 0, first.output
    assert "acute-basics (version 1)" in first.output
    again = CliRunner().invoke(main, ["setup"])
    assert "[2/2] Sequences already loaded" in again.output
    # Setup has two steps of its own; "of 3" (up's count) left people waiting for a third.
    for output in (first.output, again.output):
        assert "[1/2] Migrating" in output
        assert "/3]" not in output


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


class _Inbox:
    """An SMTP server's mailbox, as the clinic's relay would receive mail."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _compose_command(service: str) -> list[str]:
    command = list(COMPOSE["services"][service]["command"])
    assert command[0] == "nurture"
    return command[1:]


def _healthcheck(service: str) -> list[str]:
    test = COMPOSE["services"][service]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "nurture"], test
    return test[2:]


def _json_lines(log: Path) -> list[dict[str, Any]]:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON event


@pytest.mark.slow
def test_the_services_compose_starts_work_in_production_with_smtp(
    tmp_path: Path, session, sequences_loaded
) -> None:
    """Web, worker and beat as compose runs them, in production mode, mailing through SMTP."""
    inbox = _Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = child_env(
        env="production",
        base_url=base,
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_port),
        tick_seconds="1",
        log_format="json",
    )
    web = _compose_command("web")
    web[web.index("--host") + 1] = "127.0.0.1"
    web[web.index("--port") + 1] = str(port)
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "beat")}
    try:
        with (
            running(web, env=env, cwd=tmp_path, log=logs["web"]),
            running(_compose_command("worker"), env=env, cwd=tmp_path, log=logs["worker"]),
            running(_compose_command("beat"), env=env, cwd=tmp_path, log=logs["beat"]),
        ):
            wait_for(
                lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200,
                timeout=60,
                what="web",
                log=logs["web"],
            )
            signup = {
                "email": "lee@example.com",
                "first_name": "Lee",
                "numbness_type": "acute",
                "consent": True,
            }
            assert httpx.post(f"{base}/api/subscribe", json=signup, timeout=10).status_code == 202
            wait_for(
                lambda: inbox.messages, timeout=60, what="the confirmation", log=logs["worker"]
            )
            [confirmation] = inbox.messages
            assert confirmation["To"] == "lee@example.com"
            assert f"{base}/confirm/" in confirmation.get_body(("plain",)).get_content()
            # Production: the development outbox page is not served.
            assert httpx.get(f"{base}/outbox", timeout=5).status_code == 404
            wait_for(
                lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200,
                timeout=60,
                what="ready",
                log=logs["beat"],
            )

            def healthy(service: str, *extra: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [sys.executable, "-m", "nurture", *_healthcheck(service), *extra],
                    env=env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )

            assert healthy("web", "--url", f"{base}/healthz").returncode == 0
            assert healthy("beat").returncode == 0
            worker = healthy("worker")
            if env.get("NURTURE_BROKER_URL", "").startswith("redis"):
                assert worker.returncode == 0, worker.stderr
            else:
                assert worker.returncode == 1
                assert "embedded broker has no remote control" in worker.stderr
    finally:
        controller.stop()
    for name, log in logs.items():
        events = _json_lines(log)
        assert events, name
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", e["time"]) for e in events), name
        assert "lee@example.com" not in log.read_text()  # no addresses in logs
    # No healthcheck after stopping: web answers no more.
    assert healthy("web", "--url", f"{base}/healthz").returncode == 1


def test_the_sdist_leaves_out_what_a_run_leaves_behind(tmp_path: Path) -> None:
    # kombu's filesystem transport once wrote control/celery.exchange into the checkout, and
    # the sdist shipped it.
    source = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "nurture-data", "dist", "*.pyc"),
    )
    (source / "control").mkdir(exist_ok=True)
    (source / "control" / "celery.exchange").write_text('[["celery", "", "celery"]]')
    (source / ".env").write_text("NURTURE_SECRET_KEY=not-for-the-sdist\n")
    # lint-imports keeps its cache in the checkout, with a .gitignore of its own that hatch
    # does not read; it once shipped too.
    caches = (".import_linter_cache", ".mypy_cache", ".ruff_cache", ".pytest_cache")
    for cache in caches:
        (source / cache).mkdir(exist_ok=True)
        (source / cache / ".gitignore").write_text("*\n")
        (source / cache / "left.json").write_text("{}")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path / "out")],
        cwd=source,
        check=True,
        capture_output=True,
    )
    [sdist] = (tmp_path / "out").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert "nurture/core/config.py" in names
    assert not {n for n in names if n.startswith(("control/", "nurture-data/", *caches))}
    assert ".env" not in names
