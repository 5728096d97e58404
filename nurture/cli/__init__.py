"""The `nurture` command line: the root group, and where each command lives.

Each module holds one group of commands or one kind of job; to add a command, put it in the
module of its group (or a new module) and register it below.

- database.py      nurture db upgrade
- sequences.py     nurture sequences load | export | migrate
- outbox.py        nurture tick, nurture status, nurture outbox resolve and settle
- leads.py         nurture leads import | export | purge, nurture consent export
- suppressions.py  nurture suppressions import | sync | add
- visits.py        nurture visits import
- locations.py     nurture locations add | list | remove
- access.py        nurture staff create, nurture tokens create | revoke
- checks.py        nurture doctor, nurture preview
- run.py           nurture web | worker | beat | flower, nurture healthcheck web | worker | beat
- up.py            nurture setup, nurture up
- common.py        helpers the modules share (loading settings, hiding passwords)
"""

from __future__ import annotations

import click

from nurture.cli.access import staff_group, tokens_group
from nurture.cli.checks import doctor, preview
from nurture.cli.database import db
from nurture.cli.leads import consent, leads
from nurture.cli.locations import locations
from nurture.cli.outbox import outbox, status, tick
from nurture.cli.run import beat, flower, healthcheck, web, worker
from nurture.cli.sequences import sequences
from nurture.cli.suppressions import suppressions
from nurture.cli.up import setup, up
from nurture.cli.visits import visits

__all__ = ["main"]


@click.group()
@click.version_option(package_name="nurture")
def main() -> None:
    """Nurture: turn landing-page signups into booked, kept appointments."""
    # Every command works on the whole schema: load every model before any of them runs.
    from nurture.models import load_models

    load_models()


for _command in (
    db,
    sequences,
    outbox,
    tick,
    status,
    leads,
    consent,
    suppressions,
    visits,
    locations,
    staff_group,
    tokens_group,
    doctor,
    preview,
    web,
    worker,
    beat,
    flower,
    healthcheck,
    setup,
    up,
):
    main.add_command(_command)
