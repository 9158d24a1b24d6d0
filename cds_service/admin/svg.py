"""Charts as inline SVG, rendered on the server (no script, no CDN): horizontal bars, stacked
monthly bars and paired bars. Every text is escaped; every chart has a title for screen readers.

No label is cut or clipped: the layout measures each text with a deliberately generous estimate of
its width (:func:`text_width`), wraps long labels onto more lines and sizes the label column, the
value column and the viewBox to what they hold (SVG 1.1 §10 text is never wrapped by the browser).
"""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#1f5f8b", "#c0392b", "#d68910", "#1e8449", "#7d3c98", "#5d6d7e", "#117a65", "#a04000")
FONT, SMALL = 12, 10                    # px; the SVG sets them itself so its measure holds anywhere
LINE = 14                               # line height of a wrapped 12 px label
_NARROW, _WIDE = set("ijlI.,:;'|!()[]ft "), set("MWmw@%")


def text_width(text: str, size: int = FONT) -> float:
    """Width of ``text`` in a sans-serif font at ``size`` px, estimated on the wide side."""
    em = 0.0
    for ch in text:
        em += 0.34 if ch in _NARROW else 0.92 if ch in _WIDE else 0.72 if ch.isupper() else 0.6
    return em * size


def wrap(text: str, width: float, size: int = FONT) -> list[str]:
    """``text`` in lines no wider than ``width``, broken between words (a word longer than a line
    is broken inside, never dropped)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        while text_width(word, size) > width:
            cut = max(1, next((n for n in range(len(word), 0, -1) if text_width(word[:n], size) <= width), 1))
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{line} {word}" if line else word
        if text_width(candidate, size) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    return [*lines, line] if line or not lines else lines


def _text(x: float, y: float, lines: list[str], *, anchor: str = "start", cls: str = "") -> str:
    attrs = f' text-anchor="{anchor}"' if anchor != "start" else ""
    attrs += f' class="{cls}"' if cls else ""
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else LINE}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text x="{x:.1f}" y="{y:.1f}"{attrs}>{spans}</text>'


def _svg(width: int, height: float, title: str, body: list[str]) -> Markup:
    return Markup(  # noqa: S704 - every text interpolated into the markup is escaped by the callers
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height:.0f}" width="{width}" class="chart" font-size="{FONT}" '
        f'font-family="system-ui, sans-serif"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _empty(width: int, title: str) -> Markup:
    return _svg(width, 40, title, ['<text x="8" y="24" class="empty">No data yet</text>'])


def _fmt(value: float, unit: str) -> str:
    return f"{value:.0f}{unit}" if float(value).is_integer() else f"{value:.1f}{unit}"


def _columns(labels: list[str], values: list[str], width: int) -> tuple[float, float, float]:
    """(label column, plot, value column) widths: labels get what they need up to 45 % of the chart."""
    label_w = min(max(text_width(label) for label in labels) + 16, width * 0.45)
    value_w = max(text_width(v) for v in values) + 12
    return label_w, width - label_w - value_w - 8, value_w


def _bars(rows: list[tuple[str, float, str]], *, unit: str, bar_h: int, top: float, y: float,
          label_w: float, plot: float) -> tuple[list[str], float]:
    """Labelled horizontal bars from ``y`` down: (markup, y below the last)."""
    body = []
    for label, value, colour in rows:
        lines = wrap(label, label_w - 16)
        row_h = max(bar_h, len(lines) * LINE + 4)
        w = max(1.0, plot * value / top)
        body.append(_text(label_w - 8, y + 13 + (row_h - len(lines) * LINE) / 2, lines, anchor="end")
                    + f'<rect x="{label_w:.1f}" y="{y + (row_h - bar_h) / 2:.1f}" width="{w:.1f}" height="{bar_h}" '
                      f'fill="{colour}"/>' + _text(label_w + w + 6, y + row_h / 2 + 4, [_fmt(value, unit)]))
        y += row_h + 6
    return body, y


def hbar(rows: list[tuple[str, float]], *, title: str, unit: str = "", max_value: float | None = None,
         threshold: float | None = None, width: int = 720, muted: frozenset[int] = frozenset()) -> Markup:
    """One bar per row, label on the left, value on the right; an optional dashed threshold line
    named below the bars. Rows in ``muted`` (e.g. too few requests to judge) are grey whatever their value."""
    if not rows:
        return _empty(width, title)
    top = max(max_value or 0, *(v for _, v in rows), threshold or 0) or 1
    label_w, plot, _ = _columns([r[0] for r in rows], [_fmt(v, unit) for _, v in rows], width)
    coloured = [(label, value, "#9aa5b1" if i in muted else PALETTE[1] if threshold is not None and value < threshold
                 else PALETTE[0]) for i, (label, value) in enumerate(rows)]
    body, y = _bars(coloured, unit=unit, bar_h=22, top=top, y=10, label_w=label_w, plot=plot)
    height = y + 10
    if threshold is not None:
        x = label_w + plot * threshold / top
        note = f"threshold {_fmt(threshold, unit)}"
        fits_right = x + 4 + text_width(note, SMALL) <= width - 4
        body.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{y:.1f}" stroke="#333" stroke-dasharray="4 3"/>'
                    + _text(x + 4 if fits_right else x - 4, y + 12, [note], anchor="start" if fits_right else "end",
                            cls="small"))
        height = y + 20
    return _svg(width, height, title, body)


def stacked_months(months: list[str], series: dict[str, list[int]], *, title: str, width: int = 720) -> Markup:
    """Vertical bars per month, one colour per series, with a legend below."""
    if not months or not series:
        return _empty(width, title)
    names = list(series)[: len(PALETTE)]
    totals = [sum(series[n][i] for n in names) for i in range(len(months))]
    top = max(totals) or 1
    plot_h, left = 200, text_width(str(top), SMALL) + 12
    step = (width - left - 10) / len(months)
    bar_w = max(4.0, step * 0.7)
    every = next(k for k in range(1, len(months) + 1) if step * k >= text_width("00-00", SMALL) + 6)
    body = [f'<line x1="{left:.1f}" y1="{plot_h + 5}" x2="{width - 5}" y2="{plot_h + 5}" stroke="#999"/>',
            _text(left - 6, 15, [str(top)], anchor="end", cls="small")]
    for i, month in enumerate(months):
        x, y = left + i * step + (step - bar_w) / 2, plot_h + 5
        for j, name in enumerate(names):
            v = series[name][i]
            if v:
                h = plot_h * v / top
                y -= h
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                            f'fill="{PALETTE[j]}"><title>{escape(name)} {escape(month)}: {v}</title></rect>')
        if i % every == 0:   # month labels that would overlap are thinned, not squeezed
            body.append(_text(x + bar_w / 2, plot_h + 22, [month[2:]], anchor="middle", cls="small"))
    per_row = 2 if all(text_width(n, SMALL) + 24 <= width / 2 - 10 for n in names) else 1
    col_w, y = width / per_row, plot_h + 40
    for start in range(0, len(names), per_row):
        wrapped = [wrap(name, col_w - 34, SMALL) for name in names[start:start + per_row]]
        for k, lines in enumerate(wrapped):
            lx = 10 + k * col_w
            body.append(f'<rect x="{lx:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{PALETTE[start + k]}"/>'
                        + _text(lx + 18, y, lines, cls="small"))
        y += 4 + max(len(lines) for lines in wrapped) * LINE
    return _svg(width, y, title, body)


def paired_bars(rows: list[tuple[str, float | None, float | None]], *, title: str, labels: tuple[str, str],
                unit: str = "%", width: int = 720) -> Markup:
    """Two bars per row (e.g. a payer's published figure beside the practice's own)."""
    flat = [(f"{label} · {labels[k]}", v, PALETTE[k]) for label, a, b in rows for k, v in enumerate((a, b))
            if v is not None]
    if not flat:
        return _empty(width, title)
    top = max(v for _, v, _ in flat) or 1
    label_w, plot, _ = _columns([f[0] for f in flat], [_fmt(v, unit) for _, v, _ in flat], width)
    body, y = [], 8.0
    for label, a, b in rows:
        pair = [(f"{label} · {labels[k]}", v, PALETTE[k]) for k, v in enumerate((a, b)) if v is not None]
        part, y = _bars(pair, unit=unit, bar_h=18, top=top, y=y, label_w=label_w, plot=plot)
        body += part
        y += 6
    return _svg(width, y + 4, title, body)
