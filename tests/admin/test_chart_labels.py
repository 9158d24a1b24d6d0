"""The dashboard's charts never cut or clip a label (cds_service/admin/svg.py): every label is in the
SVG whole (wrapped, not truncated), and in headless Chromium every text's box lies inside the
chart's viewBox and a bar's label ends before its bar starts — measured with the browser's own
font, with the dashboard's stylesheet."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from cds_service.admin import svg
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import chromium

CSS = (Path(svg.__file__).parent / "static" / "admin.css").read_text(encoding="utf-8")
LONG = "Example Advantage Plan Gold HMO: Conservative therapy of at least six weeks documented before the request"
WORD = "Supercalifragilisticexpialidociousandthensomewordthatneverends"


def _charts():
    return [
        svg.hbar([(LONG, 73.5), ("Dr. Wójcik-Montgomery · WISeR", 100), ("short", 0.4), (WORD, 12)],
                 title="Approval rate", unit="%", threshold=97.5, max_value=100),
        svg.hbar([("Big numbers", 12_345_678), ("Tiny", 1)], title="Counts"),
        svg.stacked_months([f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 13)],
                           {LONG: [3] * 24, "Baseline pain score": [12_000] * 24, WORD: [1] * 24,
                            "Imaging": [2] * 24}, title="Denials by requirement"),
        svg.paired_bars([(LONG, 91.2, 88.0), ("Acme Commercial PPO 2026", None, 100.0)], title="Published vs ours",
                        labels=("published by the payer", "this practice")),
    ]


def _text_of(markup: str) -> str:
    return " ".join(unescape(t) for t in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", markup))


def test_no_label_is_truncated():
    hbar, _, months, paired = (str(c) for c in _charts())
    words = _text_of(hbar) + " " + _text_of(months) + " " + _text_of(paired)
    for label in (LONG, "Dr. Wójcik-Montgomery · WISeR", "published by the payer", "this practice"):
        assert all(w in words for w in label.split()), label
    assert WORD in "".join(_text_of(hbar).split())                   # broken across lines, every letter kept


def test_wrap_keeps_every_word_and_respects_the_width():
    lines = svg.wrap(LONG + " " + WORD, 150)
    assert " ".join(lines).replace(" ", "") == (LONG + WORD).replace(" ", "")
    assert all(svg.text_width(line) <= 150 for line in lines)


@pytest.mark.browser
def test_every_chart_text_fits_in_chromium():
    charts = _charts()
    html = f"<!doctype html><html><head><style>{CSS}</style></head><body>{''.join(map(str, charts))}</body></html>"
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        page.set_content(html)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "admin-chart-labels.png"), full_page=True)
        overflow = page.evaluate("""() => {
          const out = [];
          for (const chart of document.querySelectorAll('svg.chart')) {
            const vb = chart.viewBox.baseVal;
            const bars = [...chart.querySelectorAll(':scope > rect')];
            for (const t of chart.querySelectorAll('text')) {
              const b = t.getBBox();
              if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > vb.width + 0.5 || b.y + b.height > vb.height + 0.5)
                out.push(`${t.textContent} [${b.x.toFixed(0)},${b.y.toFixed(0)} ${b.width.toFixed(0)}x${b.height.toFixed(0)}] outside ${vb.width}x${vb.height}`);
              if (t.getAttribute('text-anchor') === 'end' && !t.classList.contains('small')) {
                const bar = bars.find(r => Math.abs(+r.getAttribute('y') - b.y) < 40);
                if (bar && b.x + b.width > +bar.getAttribute('x') + 0.5)
                  out.push(`${t.textContent} runs into its bar`);
              }
            }
          }
          return out;
        }""")
    assert overflow == [], overflow
