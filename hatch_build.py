"""Compile the patients' gettext catalogs (.po) into the wheel as .mo files.

The .po files are the source, kept in git; the wheel carries each compiled beside it, so an
install needs no step of its own. An editable install reads the .po files (see
nurture/core/translations.py), so nothing is compiled into the checkout.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CATALOGS = Path("nurture") / "translations"


class CompileCatalogs(BuildHookInterface):  # type: ignore[type-arg]
    """Write messages.mo for every messages.po into the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile each catalog into a scratch folder and include it in the wheel."""
        if self.target_name != "wheel" or version == "editable":
            return
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        self._scratch = Path(tempfile.mkdtemp(prefix="nurture-mo-"))
        for po in sorted((Path(self.root) / CATALOGS).glob("*/LC_MESSAGES/*.po")):
            with po.open("rb") as fh:
                catalog = read_po(fh)
            relative = po.relative_to(self.root).with_suffix(".mo")
            target = self._scratch / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:
                write_mo(fh, catalog)
            build_data["force_include"][str(target)] = relative.as_posix()

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the scratch folder."""
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
