"""Charts as inline SVG, rendered on the server (no script, no CDN): horizontal bars, stacked
monthly bars and paired bars. Every text is escaped; every chart has a title for screen readers."""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#1f5f8b", "#c0392b", "#d68910", "#1e8449", "#7d3c98", "#5d6d7e", "#117a65", "#a04000")


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(  # noqa: S704 - every text interpolated into the markup is escaped by the callers
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" class="chart">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _fmt(value: float, unit: str) -> str:
    return f"{value:.0f}{unit}" if float(value).is_integer() else f"{value:.1f}{unit}"


def hbar(rows: list[tuple[str, float]], *, title: str, unit: str = "", max_value: float | None = None,
         threshold: float | None = None, width: int = 720, muted: frozenset[int] = frozenset()) -> Markup:
    """One bar per row, label on the left, value on the right; an optional dashed threshold line.
    Rows in ``muted`` (e.g. too few requests to judge) are grey whatever their value."""
    if not rows:
        return _svg(width, 40, title, ['<text x="8" y="24" class="empty">No data yet</text>'])
    label_w, bar_h, gap = 260, 22, 8
    top = max(max_value or 0, *(v for _, v in rows), threshold or 0) or 1
    plot = width - label_w - 70
    height = len(rows) * (bar_h + gap) + 20
    body = []
    for i, (label, value) in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        w = max(1.0, plot * value / top)
        colour = "#9aa5b1" if i in muted else PALETTE[1] if threshold is not None and value < threshold else PALETTE[0]
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(label[:42])}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>'
                    f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{escape(_fmt(value, unit))}</text>')
    if threshold is not None:
        x = label_w + plot * threshold / top
        body.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 4}" stroke="#333" '
                    f'stroke-dasharray="4 3"/><text x="{x + 4:.1f}" y="{height - 4}" class="small">'
                    f'threshold {escape(_fmt(threshold, unit))}</text>')
    return _svg(width, height, title, body)


def stacked_months(months: list[str], series: dict[str, list[int]], *, title: str, width: int = 720) -> Markup:
    """Vertical bars per month, one colour per series, with a legend below."""
    if not months or not series:
        return _svg(width, 40, title, ['<text x="8" y="24" class="empty">No data yet</text>'])
    names = list(series)[: len(PALETTE)]
    plot_h, left, bottom = 200, 40, 30
    totals = [sum(series[n][i] for n in names) for i in range(len(months))]
    top = max(totals) or 1
    step = (width - left - 10) / len(months)
    bar_w = max(4.0, step * 0.7)
    legend_rows = (len(names) + 1) // 2
    height = plot_h + bottom + 10 + legend_rows * 18
    body = [f'<line x1="{left}" y1="{plot_h + 5}" x2="{width - 5}" y2="{plot_h + 5}" stroke="#999"/>',
            f'<text x="{left - 6}" y="15" text-anchor="end" class="small">{top}</text>']
    for i, month in enumerate(months):
        x, y = left + i * step + (step - bar_w) / 2, plot_h + 5
        for j, name in enumerate(names):
            v = series[name][i]
            if v:
                h = plot_h * v / top
                y -= h
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                            f'fill="{PALETTE[j]}"><title>{escape(name)} {escape(month)}: {v}</title></rect>')
        body.append(f'<text x="{x + bar_w / 2:.1f}" y="{plot_h + 22}" text-anchor="middle" class="small">'
                    f'{escape(month[2:])}</text>')
    for j, name in enumerate(names):
        lx, ly = 10 + (j % 2) * (width // 2), plot_h + bottom + 14 + (j // 2) * 18
        body.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{PALETTE[j]}"/>'
                    f'<text x="{lx + 18}" y="{ly}" class="small">{escape(name[:60])}</text>')
    return _svg(width, height, title, body)


def paired_bars(rows: list[tuple[str, float | None, float | None]], *, title: str, labels: tuple[str, str],
                unit: str = "%", width: int = 720) -> Markup:
    """Two bars per row (e.g. a payer's published figure beside the practice's own)."""
    flat = [(f"{label} · {labels[k]}", v) for label, a, b in rows for k, v in enumerate((a, b)) if v is not None]
    if not flat:
        return _svg(width, 40, title, ['<text x="8" y="24" class="empty">No data yet</text>'])
    label_w, bar_h, plot = 300, 18, width - 300 - 70
    top = max(v for _, v in flat) or 1
    body, y = [], 8
    for label, a, b in rows:
        for k, v in enumerate((a, b)):
            if v is None:
                continue
            w = max(1.0, plot * v / top)
            body.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{escape(label[:44])} · '
                        f'{escape(labels[k])}</text><rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                        f'fill="{PALETTE[k]}"/><text x="{label_w + w + 6:.1f}" y="{y + 13}">'
                        f'{escape(_fmt(v, unit))}</text>')
            y += bar_h + 4
        y += 10
    return _svg(width, y + 4, title, body)
