"""Checks before going live: `nurture doctor` (the configuration), `nurture preview` (emails)."""

from __future__ import annotations

from pathlib import Path

import click

from nurture.cli.common import load_settings


@click.command()
def doctor() -> None:
    """Check a configuration before going live; exits 1 if anything must be fixed."""
    from nurture.cli.doctor import run_checks

    results = run_checks(load_settings())
    for check in results:
        mark = {"ok": "ok  ", "fail": "FAIL", "note": "note"}[check.level]
        click.echo(f"[{mark}] {check.message}")
    failures = sum(1 for c in results if c.level == "fail")
    if failures:
        raise click.ClickException(f"{failures} problem(s) to fix before going live")
    click.echo("Ready to go live.")


@click.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--screenshots/--no-screenshots",
    default=True,
    show_default=True,
    help="Also save PNGs at phone and desktop width (needs Chromium).",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="TEXT",
    help="Only emails whose name contains TEXT (repeatable), e.g. --only goodbye.",
)
@click.option(
    "--language",
    "wanted",
    multiple=True,
    metavar="TAG",
    help="Only emails in this language (repeatable), e.g. --language es; default: every "
    "language of NURTURE_LANGUAGES (other languages' emails are named es/...).",
)
def preview(out: Path, screenshots: bool, only: tuple[str, ...], wanted: tuple[str, ...]) -> None:
    """Render every shipped email for sample leads into a gallery folder, in every language."""
    from nurture.core import languages
    from nurture.messages.preview import all_samples, problems, write_gallery
    from nurture.rendering.screenshots import require_browser

    settings = load_settings()
    if screenshots:
        try:
            require_browser()  # before any work, so nothing is left half done
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
    offered = languages.offered()
    unknown = [tag for tag in wanted if tag not in offered]
    if unknown:
        raise click.ClickException(
            f"--language {unknown[0]}: the clinic offers {', '.join(offered)} (NURTURE_LANGUAGES)"
        )
    chosen = [tag for tag in offered if not wanted or tag in wanted]
    rendered = [
        sample
        for tag in chosen
        for sample in all_samples(None if tag == languages.default() else tag)
    ]
    samples = [s for s in rendered if not only or any(part in s.name for part in only)]
    if not samples:
        raise click.ClickException(f"no email's name contains {' or '.join(only)}")
    pages = write_gallery(out, samples)
    click.echo(f"Wrote {len(samples)} emails to {out}/ (open index.html)")
    https = settings.resolved_base_url.startswith("https")
    for sample in samples:
        for problem in problems(sample, require_https=https):
            click.echo(f"  warning: {sample.name}: {problem}", err=True)
    if screenshots:
        from nurture.rendering.screenshots import screenshot_pages

        names = {page: sample.name for page, sample in zip(pages, samples, strict=True)}
        too_wide: list[str] = []
        try:
            shots = screenshot_pages(
                pages,
                widths={"phone": 390, "dark": 390, "desktop": 800},
                dark=frozenset({"dark"}),
            )
            for done, page, measured in shots:
                click.echo(f"  [{done}/{len(pages)}] {page.name}")
                too_wide += [
                    f"  {names[page]}: {s.content_width} px wide, wider than the {s.label} "
                    f"screen ({s.viewport} px)"
                    for s in measured
                    if s.too_wide
                ]
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
        if too_wide:
            # Part of the email is cut off or needs sideways scrolling on that screen.
            raise click.ClickException(
                f"{len(too_wide)} screenshot(s) wider than the screen:\n" + "\n".join(too_wide)
            )
