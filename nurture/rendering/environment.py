"""The sandboxed Jinja environments and the compiled-template cache for emails."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import css_inline
import html2text
from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from nurture.config import get_settings

_LINE_BREAKS = re.compile(r"[\r\n\t]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """What a template produced: a one-line subject, a preheader, and both body parts."""

    subject: str
    preheader: str
    html: str
    text: str


def one_line(value: str) -> str:
    """Collapse line breaks so a rendered value can never inject a header."""
    return _LINE_BREAKS.sub(" ", value).strip()


def html_to_text(html: str) -> str:
    """Derive a readable plain-text part from HTML, keeping links as visible URLs."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.protect_links = True
    converter.inline_links = True
    text = converter.handle(html)
    return _BLANK_RUNS.sub("\n\n", text).strip() + "\n"


class EmailRenderer:
    """Renders staff-editable step templates and file-based transactional templates."""

    def __init__(self, templates_dir: Path) -> None:
        loader = FileSystemLoader(str(templates_dir))
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
        }
        self.html_env = ImmutableSandboxedEnvironment(autoescape=True, **common)
        self.text_env = ImmutableSandboxedEnvironment(autoescape=False, **common)
        self._strings: dict[tuple[bool, str], Template] = {}
        self._inliner = css_inline.CSSInliner(keep_style_tags=True)

    def compile(self, source: str, *, html: bool) -> Template:
        """Return the compiled template for `source`, compiling each distinct source once."""
        key = (html, source)
        template = self._strings.get(key)
        if template is None:
            if len(self._strings) > 2048:
                self._strings.clear()
            env = self.html_env if html else self.text_env
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
    ) -> RenderedEmail:
        """Render a sequence step's templates inside the shared layout."""
        rendered_subject = one_line(self.compile(subject, html=False).render(context))
        rendered_preheader = one_line(self.compile(preheader, html=False).render(context))
        body = Markup(self.compile(body_html, html=True).render(context))
        layout_vars = {**context, "subject": rendered_subject, "preheader": rendered_preheader}
        html = self.html_env.get_template("layouts/base.html").render(layout_vars, body=body)
        if body_text:
            text_body = self.compile(body_text, html=False).render(context).strip() + "\n"
        else:
            text_body = html_to_text(str(body))
        text = self.text_env.get_template("layouts/base.txt").render(layout_vars, body=text_body)
        return RenderedEmail(rendered_subject, rendered_preheader, self._inline(html), text)

    def render_named(self, name: str, context: dict[str, Any]) -> RenderedEmail:
        """Render a file template `transactional/<name>.html` (and `.txt` when present)."""
        template = self.html_env.get_template(f"transactional/{name}.html")
        ctx = template.new_context(context)
        subject = one_line("".join(template.blocks["subject"](ctx)))
        preheader = one_line("".join(template.blocks["preheader"](ctx)))
        layout_vars = {**context, "subject": subject, "preheader": preheader}
        html = template.render(layout_vars)
        try:
            text_template = self.text_env.get_template(f"transactional/{name}.txt")
        except TemplateNotFound:  # no hand-written text part: derive one from the HTML
            body = "".join(template.blocks["content"](template.new_context(layout_vars)))
            text_body = html_to_text(body)
        else:
            text_body = text_template.render(layout_vars).strip() + "\n"
        text = self.text_env.get_template("layouts/base.txt").render(layout_vars, body=text_body)
        return RenderedEmail(subject, preheader, self._inline(html), text)

    def _inline(self, html: str) -> str:
        return str(self._inliner.inline(html))


@lru_cache(maxsize=4)
def _renderer_for(templates_dir: Path) -> EmailRenderer:
    return EmailRenderer(templates_dir)


def get_renderer() -> EmailRenderer:
    """Return the process-wide renderer for the configured templates directory."""
    return _renderer_for(get_settings().templates_dir)
