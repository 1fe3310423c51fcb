"""A small bar chart as SVG, drawn on the server (records received per day): no script, no CSS, CSP-safe."""

from __future__ import annotations

from html import escape


def bar_chart(points: list[tuple[str, int]], *, width: int = 720, height: int = 200, title: str = "",
              label_every: int = 5) -> str:
    """``points`` are (ISO day, count); the x labels show ``DD-MM`` every ``label_every`` days."""
    left, bottom, top = 40, 24, 10
    top_value = max([c for _, c in points] + [1])
    step = _nice(top_value)
    ceiling = step * -(-top_value // step)
    plot_w, plot_h = width - left - 8, height - bottom - top
    bar_w = plot_w / max(1, len(points))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart-svg" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * i / ceiling
        out.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e5df"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{i}</text>')
    for n, (day, count) in enumerate(points):
        h = plot_h * count / ceiling
        x = left + n * bar_w
        out.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, bar_w - 2):.1f}" '
                   f'height="{h:.1f}" fill="#2f7d5b" data-day="{day}" data-count="{count}">'
                   f'<title>{day[8:10]}-{day[5:7]}-{day[:4]}: {count}</title></rect>')
        if n % label_every == 0 or n == len(points) - 1:
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 6}" font-size="11" text-anchor="middle" '
                       f'fill="#555">{day[8:10]}-{day[5:7]}</text>')
    out.append("</svg>")
    return "".join(out)


def _nice(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if value / step <= 5:
            return step
    return 10 ** len(str(value))
