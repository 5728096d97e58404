"""`nurture locations` as a clinic runs it: separate processes on a fresh data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _nurture(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(NURTURE_DATA_DIR=str(folder / "data"), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "nurture", *args],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SOUTH = ["--name", "South Clinic", "--address", "9 South Street", "--phone", "+1 312 555 0199"]


def test_add_list_and_remove_on_a_fresh_install(tmp_path: Path) -> None:
    assert _nurture(tmp_path, "db", "upgrade").returncode == 0
    listed = _nurture(tmp_path, "locations", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["main"]
    bad = _nurture(tmp_path, "locations", "add", "south", *SOUTH, "--timezone", "Mars/Base")
    assert bad.returncode == 1
    assert "--timezone: 'Mars/Base' is not a time zone" in bad.stderr
    added = _nurture(
        tmp_path,
        "locations",
        "add",
        "south",
        *SOUTH,
        "--timezone",
        "America/Chicago",
        "--booking-url",
        "https://book.example.com/south",
    )
    assert added.returncode == 0, added.stderr
    visits = tmp_path / "visits.csv"
    visits.write_text(
        "external_id,email,first_name,starts_at,timezone,duration_minutes,location,status\n"
        "v1,a@example.com,Al,2030-01-10T10:00:00-06:00,America/Chicago,30,South Clinic,booked\n",
        encoding="utf-8",
    )
    assert _nurture(tmp_path, "visits", "import", str(visits)).returncode == 0
    listed = _nurture(tmp_path, "locations", "list").stdout.splitlines()
    assert listed[1].split("\t") == [
        "south",
        "South Clinic",
        "9 South Street",
        "+1 312 555 0199",
        "America/Chicago",
        "1 visits",
        "1 leads",
    ]
    refused = _nurture(tmp_path, "locations", "remove", "south")
    assert refused.returncode == 1
    assert "still used by 1 visit(s) and 1 lead(s)" in refused.stderr
    assert "south" in _nurture(tmp_path, "locations", "list").stdout
