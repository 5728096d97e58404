"""Every shipped email measured in Chromium: phone widths, contrast in light and dark, bare HTML."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from nurture.messages.preview import Sample, all_samples, every_sample
from tests.browser import browser

pytestmark = pytest.mark.slow

# The widest element edge and the page's scroll width, against the viewport.
MEASURE_WIDTH = """() => {
  let right = 0;
  for (const el of document.body.querySelectorAll('*')) {
    for (const r of el.getClientRects()) right = Math.max(right, r.right);
  }
  return {scroll: document.documentElement.scrollWidth, right: Math.ceil(right),
          viewport: window.innerWidth};
}"""

# WCAG 2.x contrast of every visible text node's colour against the background behind it.
CONTRAST = """() => {
  const rgba = c => {
    const p = c.match(/[\\d.]+/g).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) => [0, 1, 2].map(
    i => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let colour = rgba(getComputedStyle(document.documentElement).backgroundColor);
    if (colour[3] < 1) colour = matchMedia('(prefers-color-scheme: dark)').matches
      ? [18, 18, 18, 1] : [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const luminance = c => {
    const ch = c.slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || el.getClientRects().length === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const back = background(el), fore = over(rgba(style.color), back);
    const [a, b] = [luminance(fore), luminance(back)].sort((x, y) => y - x);
    found.push({text: node.textContent.trim().slice(0, 40), ratio: (a + 0.05) / (b + 0.05),
                color: style.color, background: `rgb(${back.slice(0, 3).join(', ')})`});
  }
  return found;
}"""

STYLED = "h1, h2, p, li, a, td, strong"
COMPUTED = """(selector) => [...document.querySelectorAll(selector)].map(el => {
  const s = getComputedStyle(el);
  return [el.tagName, el.textContent.trim().slice(0, 30), s.color, s.backgroundColor,
          s.fontFamily, s.fontSize, s.fontWeight, s.lineHeight, s.textDecorationLine,
          s.marginTop, s.marginBottom, s.paddingTop, s.paddingLeft, s.display];
})"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with browser() as instance:
        yield instance


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return list(every_sample())


def _pages(chromium, samples: list[Sample], **options: object) -> Iterator[tuple[Sample, object]]:  # type: ignore[no-untyped-def]
    context = chromium.new_context(**options)
    page = context.new_page()
    try:
        for sample in samples:
            page.set_content(sample.email.html)
            yield sample, page
    finally:
        context.close()


@pytest.mark.parametrize("width", [320, 390])
def test_every_email_fits_a_phone_screen(chromium, samples: list[Sample], width: int) -> None:  # type: ignore[no-untyped-def]
    too_wide = {}
    for sample, page in _pages(chromium, samples, viewport={"width": width, "height": 800}):
        measured = page.evaluate(MEASURE_WIDTH)
        if max(measured["scroll"], measured["right"]) > width:
            too_wide[sample.name] = measured
    assert too_wide == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_has_enough_contrast(chromium, samples: list[Sample], scheme: str) -> None:  # type: ignore[no-untyped-def]
    poor: dict[str, list[dict[str, object]]] = {}
    for sample, page in _pages(
        chromium, samples, viewport={"width": 600, "height": 800}, color_scheme=scheme
    ):
        found = page.evaluate(CONTRAST)
        assert len(found) > 5, sample.name
        low = [f for f in found if f["ratio"] < 4.5]
        if low:
            poor[sample.name] = low
    assert poor == {}


def test_contrast_check_sees_a_dim_text(chromium) -> None:  # type: ignore[no-untyped-def]
    # The measurement itself must notice a light grey on white.
    page = chromium.new_page()
    page.set_content(
        '<body style="background:#fff"><p style="color:#bbb">faint</p>'
        '<p style="color:#222">clear</p></body>'
    )
    ratios = {f["text"]: f["ratio"] for f in page.evaluate(CONTRAST)}
    page.close()
    assert ratios["faint"] < 2 < 12 < ratios["clear"]


def test_emails_look_the_same_without_their_style_block(
    chromium,
    samples: list[Sample],  # type: ignore[no-untyped-def]
) -> None:
    context = chromium.new_context(viewport={"width": 800, "height": 800})
    page = context.new_page()
    differ = {}
    try:
        for sample in samples:
            page.set_content(sample.email.html)
            styled = page.evaluate(COMPUTED, STYLED)
            page.set_content(re.sub(r"<style\b.*?</style>", "", sample.email.html, flags=re.S))
            bare = page.evaluate(COMPUTED, STYLED)
            changed = [(a, b) for a, b in zip(styled, bare, strict=True) if a != b]
            if changed:
                differ[sample.name] = changed[:3]
    finally:
        context.close()
    assert differ == {}


# Yahoo and Outlook drop these properties: an email must fit without any of them.
_WRAPPING = re.compile(r"(?:word-break|overflow-wrap|word-wrap|hyphens)\s*:[^;\"'}]*;?", re.I)


def test_every_email_fits_a_phone_screen_without_css_wrapping(
    chromium,  # type: ignore[no-untyped-def]
    settings,
) -> None:
    # A real clinic's address is longer than a test host; links break nowhere without CSS.
    settings(base_url="https://nurture.example-spine-and-nerve-clinic.com")
    samples = list(all_samples())
    too_wide = {}
    context = chromium.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    try:
        for sample in samples:
            page.set_content(_WRAPPING.sub("", sample.email.html))
            measured = page.evaluate(MEASURE_WIDTH)
            if max(measured["scroll"], measured["right"]) > 390:
                too_wide[sample.name] = measured
    finally:
        context.close()
    assert too_wide == {}


def test_stripping_css_wrapping_leaves_no_wrapping_property() -> None:
    html = '<p style="word-break: break-all;overflow-wrap:anywhere; color:#000">x</p>'
    html += "<style>.a { word-wrap: break-word; hyphens: auto }</style>"
    stripped = _WRAPPING.sub("", html)
    assert not re.search(r"word-break|overflow-wrap|word-wrap|hyphens", stripped)
    assert "color:#000" in stripped
