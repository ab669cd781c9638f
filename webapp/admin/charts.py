"""Small bar charts drawn on the server as SVG: no script, nothing fetched from elsewhere."""

from markupsafe import Markup, escape

from ..troubleshooting import ErrorKind

WIDTH, HEIGHT, BOTTOM, LEFT = 560, 160, 22, 34
# The width of a label's character at its largest (on a phone, where the chart is drawn small and
# its text large): a label longer than its room is cut, its whole text on the bar's tooltip.
CHAR_WIDTH = 10.5
# One colour a kind, in the table's order, so a kind looks the same on every chart.
PALETTE = (
    "#b42318",
    "#dc6803",
    "#7a5af8",
    "#667085",
    "#0e9384",
    "#e04f16",
    "#c11574",
    "#475467",
    "#1570ef",
    "#344054",
    "#f04438",
    "#fdb022",
    "#6172f3",
    "#d444f1",
    "#12b76a",
)
KIND_COLOURS = {kind.value: PALETTE[i % len(PALETTE)] for i, kind in enumerate(ErrorKind)}


def _frame(title: str, top: float, body: list[str], labels: list[str], unit: str = "") -> Markup:
    plot_h = HEIGHT - BOTTOM
    step = (WIDTH - LEFT) / max(len(labels), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="0" y="10" class="axis">{escape(_short(top))}{escape(unit)}</text>',
        f'<text x="0" y="{plot_h}" class="axis">0</text>',
        f'<line x1="{LEFT}" y1="{plot_h}" x2="{WIDTH}" y2="{plot_h}" class="baseline"/>',
        *body,
    ]
    every = max(1, len(labels) // 7)
    room = max(1, int(step * every / CHAR_WIDTH))
    for index, label in enumerate(labels):
        if (len(labels) - 1 - index) % every == 0:  # the newest (rightmost) always labelled
            x = LEFT + step * index + step / 2
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" class="label" text-anchor="middle">'
                f"{escape(_cut(label, room))}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every value in it went through escape())


def _cut(label: str, room: int) -> str:
    return label if len(label) <= room else label[: room - 1] + "…"


def bars(title: str, points: list[tuple[str, float]], unit: str = "") -> Markup:
    """One bar a point, e.g. messages per day."""
    top = max((value for _, value in points), default=0) or 1
    step = (WIDTH - LEFT) / max(len(points), 1)
    plot_h = HEIGHT - BOTTOM
    body = []
    for index, (label, value) in enumerate(points):
        height = plot_h * value / top
        x = LEFT + step * index + step * 0.15
        body.append(
            f'<rect x="{x:.1f}" y="{plot_h - height:.1f}" width="{step * 0.7:.1f}" '
            f'height="{height:.1f}" class="bar"><title>{escape(label)}: '
            f"{escape(_short(value))}{escape(unit)}</title></rect>"
        )
    return _frame(title, top, body, [label for label, _ in points], unit)


def stacked(title: str, columns: list[tuple[str, dict[str, int]]]) -> Markup:
    """Bars made of coloured parts, e.g. errors per day split by kind."""
    top = max((sum(parts.values()) for _, parts in columns), default=0) or 1
    step = (WIDTH - LEFT) / max(len(columns), 1)
    plot_h = HEIGHT - BOTTOM
    body = []
    for index, (label, parts) in enumerate(columns):
        y = plot_h
        x = LEFT + step * index + step * 0.15
        for kind, count in sorted(parts.items()):
            height = plot_h * count / top
            y -= height
            colour = KIND_COLOURS.get(kind, "#98a2b3")
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>{escape(label)}: {count} {escape(kind)}</title></rect>'
            )
    return _frame(title, top, body, [label for label, _ in columns])


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}" if isinstance(value, float) else str(value)
