"""The sandboxed Jinja environments and the compiled-template cache for emails."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import css_inline
from babel import Locale
from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    pass_context,
)
from jinja2.runtime import Context
from markupsafe import Markup

from nurture.core.config import get_settings
from nurture.core.languages import default as default_language
from nurture.core.languages import formatting_locale
from nurture.rendering.buttons import BUTTON_COLOUR, bulletproof_buttons
from nurture.rendering.dates import format_day, format_visit_time
from nurture.rendering.limits import MAX_OUTPUT, LimitedSandbox, limits, render
from nurture.rendering.safety import SAFETY, safety_for
from nurture.rendering.text import html_to_text as html_to_text  # the studio's too
from nurture.rendering.words import WORDS_EN, words_for

_LINE_BREAKS = re.compile(r"[\r\n\t]+")
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
LAYOUT = "layouts/base.html"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """What a template produced: a one-line subject, a preheader, and both body parts."""

    subject: str
    preheader: str
    html: str
    text: str
    # The language it was written in when one was asked for (None: the layout's default).
    language: str | None = None


def one_line(value: str) -> str:
    """Collapse line breaks so a rendered value can never inject a header."""
    return _LINE_BREAKS.sub(" ", value).strip()


def _jinja_tokens(env: Environment, source: str) -> list[tuple[str, str]]:
    return [(kind, value) for _, kind, value in env.lex(source) if kind != "data"]


def inline_source(env: Environment, source: str, css: str | None) -> str | None:
    """Inline CSS into a template's source once, or return None if that would alter its Jinja.

    Inlining the source (not each rendered email) makes it a once-per-template-version cost.
    A template whose tags the HTML parser would move or escape is left for per-email inlining.
    """
    try:
        inlined = (
            css_inline.inline(source, keep_style_tags=True)
            if css is None
            else css_inline.inline_fragment(source, css)
        )
    except (css_inline.InlineError, ValueError):
        return None
    try:
        same = _jinja_tokens(env, str(inlined)) == _jinja_tokens(env, source)
    except TemplateSyntaxError:
        return None  # a broken source reports its own error when it is compiled
    return str(inlined) if same else None


class InliningLoader(BaseLoader):
    """Loads file templates with their CSS inlined at load time (cached by Jinja after that)."""

    def __init__(self, inner: FileSystemLoader, css: Callable[[], str]) -> None:
        self.inner = inner
        self.css = css

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.endswith(".html"):
            css = None if template.startswith("layouts/") else self.css()
            inlined = inline_source(environment, source, css)
            if inlined is None:
                raise ValueError(f"template {template} cannot have its CSS inlined safely")
            source = inlined
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


class EmailRenderer:
    """Renders staff-editable step templates and file-based transactional templates."""

    def __init__(self, templates_dir: Path) -> None:
        files = FileSystemLoader(str(templates_dir))
        self._layout_css: str | None = None

        def layout_css() -> str:
            if self._layout_css is None:
                raw = (templates_dir / LAYOUT).read_text(encoding="utf-8")
                self._layout_css = "\n".join(_STYLE.findall(raw))
            return self._layout_css

        self._css = layout_css
        common: dict[str, Any] = {
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
        }
        self.html_env = LimitedSandbox(
            autoescape=True, loader=InliningLoader(files, layout_css), **common
        )
        self.text_env = LimitedSandbox(autoescape=False, loader=files, **common)
        for env in (self.html_env, self.text_env):
            env.globals["safety"] = SAFETY  # the layout's warning signs, one list for all
            env.globals["words"] = WORDS_EN  # the layout's fixed words (see language_context)
            env.globals["lang_query"] = ""  # links to the site's pages: in the email's language
            env.filters["visit_time"] = _visit_time  # how every visit time reads
            env.filters["day"] = _day  # a day, in the email's language
        self._strings: dict[tuple[bool, str], Template] = {}

    def compile(self, source: str, *, html: bool) -> Template:
        """Return the compiled template for `source`, compiling each distinct source once."""
        key = (html, source)
        template = self._strings.get(key)
        if template is None:
            if len(self._strings) > 2048:
                self._strings.clear()
            env = self.html_env if html else self.text_env
            if html:
                # Staff HTML gets the layout's CSS inlined once, when first compiled.
                source = inline_source(env, source, self._css()) or source
            template = self._strings[key] = env.from_string(source)
        return template

    def render_step(
        self,
        *,
        subject: str,
        preheader: str,
        body_html: str,
        body_text: str | None,
        context: dict[str, Any],
        language: str | None = None,
    ) -> RenderedEmail:
        """Render a sequence step's templates inside the shared layout, within the limits.

        With `language` the layout's words, safety box and dates are in that language; the
        step's own fields must already be (nurture.sequences.variants.content_in).
        """
        context = {**context, **language_context(language)}

        def staff(source: str, *, html: bool) -> str:
            return render(self.compile(source, html=html), context, max_chars=MAX_OUTPUT)

        with limits():
            rendered_subject = one_line(staff(subject, html=False))
            rendered_preheader = one_line(staff(preheader, html=False))
            body = Markup(staff(body_html, html=True))
            layout_vars = {**context, "subject": rendered_subject, "preheader": rendered_preheader}
            html = render(
                self.html_env.get_template(LAYOUT), {**layout_vars, "body": body}, max_chars=None
            )
            if body_text:
                text_body = staff(body_text, html=False).strip() + "\n"
            else:
                text_body = html_to_text(str(body))
            text = render(
                self.text_env.get_template("layouts/base.txt"),
                {**layout_vars, "body": text_body},
                max_chars=None,
            )
        return RenderedEmail(
            rendered_subject,
            rendered_preheader,
            bulletproof_buttons(html, _accent(context)),
            text,
            language,
        )

    def render_body(self, body_html: str, context: dict[str, Any]) -> str:
        """Render a step's HTML body template alone (no layout), within the limits."""
        with limits():
            return render(self.compile(body_html, html=True), context, max_chars=MAX_OUTPUT)

    def localized(self, path: str, language: str | None) -> tuple[str, str | None]:
        """Return the template for `path` in `language` (`<language>/<path>`) and its language.

        A language with no such file gets `path` itself, the clinic's default language, and
        None for the language: the caller renders the original.
        """
        for tag in _tags(language):
            candidate = f"{tag}/{path}"
            try:
                self.text_env.loader.get_source(self.text_env, candidate)  # type: ignore[union-attr]
            except TemplateNotFound:
                continue
            return candidate, tag
        return path, None

    def render_named(
        self, name: str, context: dict[str, Any], language: str | None = None
    ) -> RenderedEmail:
        """Render a file template `transactional/<name>.html` (and `.txt` when present).

        With `language`, `<language>/transactional/<name>.html` when it exists, in that
        language's layout words and dates; else the original.
        """
        path, used = self.localized(f"transactional/{name}.html", language)
        context = {**context, **language_context(used)}
        with limits():
            email = self._render_named(path, context)
        return RenderedEmail(email.subject, email.preheader, email.html, email.text, used)

    def _render_named(self, path: str, context: dict[str, Any]) -> RenderedEmail:
        template = self.html_env.get_template(path)
        ctx = template.new_context(context)
        subject = one_line("".join(template.blocks["subject"](ctx)))
        preheader = one_line("".join(template.blocks["preheader"](ctx)))
        layout_vars = {**context, "subject": subject, "preheader": preheader}
        html = template.render(layout_vars)
        try:
            text_template = self.text_env.get_template(path.removesuffix(".html") + ".txt")
        except TemplateNotFound:  # no hand-written text part: derive one from the HTML
            body = "".join(template.blocks["content"](template.new_context(layout_vars)))
            text_body = html_to_text(body)
        else:
            text_body = text_template.render(layout_vars).strip() + "\n"
        text = self.text_env.get_template("layouts/base.txt").render(layout_vars, body=text_body)
        return RenderedEmail(subject, preheader, bulletproof_buttons(html, _accent(context)), text)

    def render_text(self, name: str, context: dict[str, Any], language: str | None = None) -> str:
        """Render the text message template `texts/<name>.txt` within the limits.

        With `language`, `<language>/texts/<name>.txt` when it exists (dates in it too).
        """
        path, used = self.localized(f"texts/{name}.txt", language)
        context = {**context, **language_context(used)}
        with limits():
            template = self.text_env.get_template(path)
            body = render(template, context, max_chars=MAX_OUTPUT)
        # One paragraph: spaces and line breaks a template adds around tags collapse.
        return " ".join(body.split())

    def render_text_source(self, source: str, context: dict[str, Any]) -> str:
        """Render a text message template staff wrote in the studio (sandboxed, in limits)."""
        with limits():
            body = render(self.compile(source, html=False), context, max_chars=MAX_OUTPUT)
        return " ".join(body.split())


def _tags(language: str | None) -> list[str]:
    """Return the folders to look in for `language`: "es-MX", then "es"."""
    if not language:
        return []
    base = language.split("-")[0]
    return [language] if base == language else [language, base]


def language_context(language: str | None) -> dict[str, Any]:
    """Return what a layout reads in `language`: its words, safety box and date locale.

    Nothing for None, so the original renders exactly as it always has.
    """
    if not language:
        return {}
    return {
        "words": words_for(language),
        "safety": safety_for(language),
        "locale": formatting_locale(language),
        # The privacy notice and the landing page know no lead: the link names the language.
        "lang_query": "" if language == default_language() else f"?lang={language}",
    }


@pass_context
def _visit_time(
    context: Context,
    moment: datetime,
    tz: str,
    locale: str | Locale | None = None,
    *,
    short: bool = False,
) -> str:
    """The `visit_time` filter: in the email's language when it has one (see language_context)."""
    return format_visit_time(moment, tz, locale or _locale(context), short=short)


@pass_context
def _day(context: Context, value: datetime | str, tz: str | None = None) -> str:
    """The `day` filter: the day of a time (or an ISO time) in the email's language."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_day(moment, tz, _locale(context))


def _locale(context: Context) -> Locale | None:
    """The locale language_context set for this email, or None for the clinic's."""
    chosen = context.get("locale")
    return chosen if isinstance(chosen, Locale) else None


def _accent(context: dict[str, Any]) -> str:
    """The button colour: the location's (else the clinic's) accent, chosen per render."""
    for source in ("location", "clinic"):
        details = context.get(source)
        colour = details.get("accent_color") if isinstance(details, dict) else None
        if isinstance(colour, str) and colour:
            return colour
    return BUTTON_COLOUR


@lru_cache(maxsize=4)
def _renderer_for(templates_dir: Path) -> EmailRenderer:
    return EmailRenderer(templates_dir)


def get_renderer() -> EmailRenderer:
    """Return the process-wide renderer for the configured templates directory."""
    return _renderer_for(get_settings().templates_dir)
