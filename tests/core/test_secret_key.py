"""No known secret ever signs anything: unset NURTURE_SECRET_KEY means a key per installation."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from nurture.core.config import PLACEHOLDER_SECRET, Settings, get_settings, reset_settings
from nurture.core.keyfile import KEY_FILE
from nurture.core.tokens import InvalidToken, make_token, read_token


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as a default installation does: NURTURE_SECRET_KEY unset."""
    monkeypatch.delenv("NURTURE_SECRET_KEY", raising=False)
    reset_settings()


def _install(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Settings:
    monkeypatch.setenv("NURTURE_DATA_DIR", str(data_dir))
    reset_settings()
    return get_settings()


@pytest.mark.usefixtures("no_key")
def test_two_fresh_installations_never_accept_each_others_links(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = _install(monkeypatch, tmp_path / "first").resolved_secret_key
    link = make_token("preferences", {"lead": 1})
    assert read_token("preferences", link) == {"lead": 1}
    second = _install(monkeypatch, tmp_path / "second").resolved_secret_key
    assert first != second
    with pytest.raises(InvalidToken):
        read_token("preferences", link)


@pytest.mark.usefixtures("no_key")
def test_the_generated_key_is_private_random_and_kept_across_restarts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = _install(monkeypatch, tmp_path).resolved_secret_key
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert len(key) >= 32
    assert key != PLACEHOLDER_SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]  # no temporary file left
    link = make_token("unsubscribe", {"lead": 7})
    # A restart reads the same file, so links sent before it still work.
    assert _install(monkeypatch, tmp_path).resolved_secret_key == key
    assert read_token("unsubscribe", link) == {"lead": 7}


@pytest.mark.usefixtures("no_key")
def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    # As under `nurture up`: web, worker and beat race to make the key on first run.
    code = "import sys; from pathlib import Path; from nurture.core.keyfile import load_or_create; "
    code += "print(load_or_create(Path(sys.argv[1])))"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "data")], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    keys = {child.communicate(timeout=60)[0].strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    assert len(keys) == 1
    assert keys == {(tmp_path / "data" / KEY_FILE).read_text().strip()}
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [KEY_FILE]


def test_no_constant_is_ever_a_signing_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert Settings.model_fields["secret_key"].default is None
    for env in ("development", "production"):
        monkeypatch.setenv("NURTURE_ENV", env)
        monkeypatch.setenv("NURTURE_SECRET_KEY", PLACEHOLDER_SECRET)
        with pytest.raises(ValidationError, match="NURTURE_SECRET_KEY"):
            Settings(data_dir=tmp_path)
        monkeypatch.setenv("NURTURE_SECRET_KEY", "too-short")
        with pytest.raises(ValidationError, match="NURTURE_SECRET_KEY"):
            Settings(data_dir=tmp_path)


@pytest.mark.usefixtures("no_key")
def test_production_without_a_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("NURTURE_ENV", "production")
    monkeypatch.setenv("NURTURE_DATA_DIR", str(tmp_path))
    reset_settings()
    with pytest.raises(ValidationError, match="NURTURE_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("NURTURE_SECRET_KEY", "")  # empty is unset, as in compose's `${VAR:?}`
    with pytest.raises(ValidationError, match="NURTURE_SECRET_KEY"):
        Settings()
    monkeypatch.delenv("NURTURE_SECRET_KEY")
    from nurture.cli import main

    result = CliRunner().invoke(main, ["setup"])
    assert result.exit_code != 0
    assert "NURTURE_SECRET_KEY" in result.output
    assert not (tmp_path / KEY_FILE).exists()  # production never falls back to a generated key


@pytest.mark.usefixtures("no_key")
def test_an_explicit_key_is_used_and_nothing_is_generated(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("NURTURE_SECRET_KEY", "e" * 40)
    assert _install(monkeypatch, tmp_path).resolved_secret_key == "e" * 40
    assert not (tmp_path / KEY_FILE).exists()


@pytest.mark.usefixtures("no_key")
def test_an_unusable_key_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from nurture.core.keyfile import KeyFileError

    (tmp_path / KEY_FILE).write_text("short\n")
    with pytest.raises(KeyFileError, match="delete it to make a new one"):
        _ = _install(monkeypatch, tmp_path).resolved_secret_key


@pytest.mark.usefixtures("no_key")
def test_doctor_says_where_the_generated_key_lives(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from nurture.cli import main

    _install(monkeypatch, tmp_path)
    result = CliRunner().invoke(main, ["doctor"])
    assert "[FAIL] NURTURE_SECRET_KEY is unset" in result.output
    assert str(tmp_path / KEY_FILE) in result.output
