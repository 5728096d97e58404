"""Write live sequences in the same YAML format `nurture sequences load` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.sequences.files import SequenceSpec
from nurture.sequences.models import Sequence
from nurture.sequences.service import live_version, spec_of


class _BlockDumper(yaml.SafeDumper):
    """Dump multi-line strings (email bodies) as readable `|` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def dump_spec(spec: SequenceSpec) -> str:
    """Return a sequence as the YAML text of a sequence file."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def export_all(session: Session, *, folder: Path) -> list[Path]:
    """Write each sequence's live version to `<folder>/<slug>.yml`; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sequence in session.scalars(select(Sequence).order_by(Sequence.slug)):
        version = live_version(session, sequence.id)
        if version is None:
            continue
        path = folder / f"{sequence.slug}.yml"
        path.write_text(dump_spec(spec_of(version)), encoding="utf-8")
        written.append(path)
    return written
