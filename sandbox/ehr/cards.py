"""Card display (CDS Hooks 2.0 §"Card Attributes"): ``detail`` is GitHub-flavoured Markdown,
rendered with markdown-it-py with raw HTML disabled and link schemes limited to http(s), so a
card can never inject markup or script into the EHR page.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(["table", "strikethrough"])
_md.validateLink = lambda url: url.lower().startswith(("http://", "https://"))

INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


def render_markdown(text: str | None) -> str:
    return _md.render(text or "")


def prepare(cards: list[dict]) -> list[dict]:
    """Cards sorted by indicator (critical first) with their detail rendered to safe HTML."""
    out = []
    for card in cards or []:
        if not isinstance(card, dict):
            continue
        out.append({**card, "detail_html": render_markdown(card.get("detail"))})
    return sorted(out, key=lambda c: INDICATOR_ORDER.get(c.get("indicator"), 3))


def has_critical(cards: list[dict]) -> bool:
    return any(c.get("indicator") == "critical" for c in cards or [] if isinstance(c, dict))
