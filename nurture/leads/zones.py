"""The time zones the landing page offers, grouped by area for its drop-down."""

from __future__ import annotations

from zoneinfo import available_timezones

# The zones a person picks from: the IANA areas, grouped by continent or ocean, plus UTC.
ZONE_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


def _zone_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    zones = sorted(z for z in available_timezones() if z.split("/")[0] in ZONE_AREAS)
    groups: dict[str, list[tuple[str, str]]] = {}
    for zone in zones:
        area, _, place = zone.partition("/")
        groups.setdefault(area, []).append((zone, place.replace("_", " ").replace("/", " / ")))
    return [(area, groups[area]) for area in ZONE_AREAS if area in groups] + [
        ("Other", [("UTC", "UTC")])
    ]


ZONE_GROUPS = _zone_groups()
ZONE_VALUES = frozenset(zone for _, zones in ZONE_GROUPS for zone, _ in zones)
