"""The patients' catalogs: every marked string is translated; the wheel carries them compiled."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from nurture.core import translations

ROOT = Path(__file__).resolve().parents[2]
# The keywords the README's `pybabel extract` names.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "gettext_in": (2,)}


def _extracted() -> set[str]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_page_string_is_in_every_catalog() -> None:
    extracted = _extracted()
    assert "Get the free guides" in extracted  # the extraction reads the pages
    for po in sorted(translations.CATALOGS.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh)
        done = {
            m.id if isinstance(m.id, str) else m.id[0]
            for m in catalog
            if m.id and m.string and all(m.string) and not m.fuzzy
        }
        missing = sorted(extracted - done)
        assert not missing, f"{po.parent.parent.name}: untranslated (run pybabel update): {missing}"


def test_a_missing_message_shows_the_original() -> None:
    assert translations.gettext_in("es", "Get the free guides") == "Reciba las guías gratuitas"
    assert translations.gettext_in("es-MX", "Get the free guides") == "Reciba las guías gratuitas"
    assert translations.gettext_in("es", "Not in any catalog") == "Not in any catalog"
    assert translations.gettext_in("fr", "Get the free guides") == "Get the free guides"


def test_the_wheel_carries_compiled_catalogs(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        compiled = archive.read("nurture/translations/es/LC_MESSAGES/messages.mo")
    spanish = Translations(BytesIO(compiled))
    assert spanish.gettext("Get the free guides") == "Reciba las guías gratuitas"
