"""Heat maps of Jacobian blocks and of values on an array's shape, as inline SVG (no script, no font,
no image file: the HTML report stays one self-contained file).

A figure is one ``<svg>`` and its caption: panels side by side (the analytic block, the numerical one, their
difference), each with its own diverging colour scale and legend. Rows and columns follow the
row-major order of the shapes on the axes, with a tick line between the groups of the leading axis
(and lighter ones for the next), so a missing reduction over a batch axis shows as a band. The
colour map is ColorBrewer's RdBu (safe for the common colour-vision deficiencies): negative blue,
zero near white, positive red; each scale is symmetric about zero, so the sign always reads the
same. Blocks larger than :data:`MAX_CELLS` a side are pooled keeping the entry of largest magnitude
(with its sign), so the worst entries stay visible.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# ColorBrewer RdBu (11 classes), from -1 (blue) through 0 (near white) to +1 (red)
RDBU = (
    "#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
    "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f",
)  # fmt: skip
ZERO = RDBU[5]
NOT_FINITE = "#4d4d4d"
MAX_CELLS = 64  # a side: beyond, max-magnitude pooling
LEVELS = 32  # colour levels on each side of zero (an entry under 1/64 of the scale draws as zero)
PANEL = 320  # pixels a side of a panel's map, about (5 px a cell at 64 cells)
MAX_CELL, MIN_CELL = 28, 4
FONT = "font-family:system-ui,sans-serif;font-size:11px"


@dataclass
class Panel:
    """One heat map: ``values`` (rows x columns, unpooled), its title, and the scale (the largest
    magnitude drawn at full colour; the panel's own when None)."""

    title: str
    values: np.ndarray
    scale: float | None = None
    mark_worst: bool = False


def colour(t: float) -> str:
    """The colour of ``t`` in [-1, 1]."""
    position = (min(max(t, -1.0), 1.0) + 1.0) * 5.0
    low = min(int(position), 9)
    frac = position - low
    a, b = _rgb(RDBU[low]), _rgb(RDBU[low + 1])
    return "#" + "".join(f"{round(x + (y - x) * frac):02x}" for x, y in zip(a, b, strict=True))


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def scale_of(*arrays: np.ndarray) -> float:
    """The largest finite magnitude among ``arrays`` (0 when none)."""
    finite = [np.abs(a[np.isfinite(a)]) for a in arrays if a.size]
    return max((float(f.max()) for f in finite if f.size), default=0.0)


def pool(values: np.ndarray, max_cells: int = MAX_CELLS) -> tuple[np.ndarray, int, int]:
    """``values`` pooled to at most ``max_cells`` a side, each cell the entry of largest magnitude
    (NaN and Inf win: they are the worst); the pooling factors of rows and columns."""
    rows, cols = values.shape
    fr, fc = max(1, math.ceil(rows / max_cells)), max(1, math.ceil(cols / max_cells))
    if fr == fc == 1:
        return values, 1, 1
    pr, pc = math.ceil(rows / fr), math.ceil(cols / fc)
    padded = np.zeros((pr * fr, pc * fc))
    padded[:rows, :cols] = values
    blocks = padded.reshape(pr, fr, pc, fc).transpose(0, 2, 1, 3).reshape(pr, pc, fr * fc)
    magnitude = np.where(np.isfinite(blocks), np.abs(blocks), np.inf)
    pick = np.argmax(magnitude, axis=-1)
    return np.take_along_axis(blocks, pick[..., None], axis=-1)[..., 0], fr, fc


def figure(
    panels: Sequence[Panel],
    row_shape: tuple[int, ...],
    col_shape: tuple[int, ...],
    row_label: str,
    col_label: str,
    caption: str = "",
) -> str:
    """A ``<figure>``: one ``<svg>`` with ``panels`` side by side, and ``caption`` under it; rows follow
    ``row_shape`` (row-major), columns ``col_shape``; ``row_label`` / ``col_label`` name them (an array
    and its shape)."""
    rows, cols = panels[0].values.shape
    pooled = [pool(p.values) for p in panels]
    _, fr, fc = pooled[0]
    pr, pc = pooled[0][0].shape
    cell = max(MIN_CELL, min(MAX_CELL, PANEL // max(pr, pc, 1)))
    left, top, gap = 48, 58, 44  # the row label left of the first panel; tick labels in the gaps
    width_map, height_map = pc * cell, pr * cell
    panel_width = max(width_map, 150)
    parts: list[str] = []
    for n, (panel, (values, _, _)) in enumerate(zip(panels, pooled, strict=True)):
        x0 = left + n * (panel_width + gap)
        parts.append(_panel(panel, values, x0, top, cell, (rows, cols), (fr, fc), row_shape, col_shape))
        parts.append(_text(x0 + width_map / 2, top - 40, panel.title, "middle", bold=True))
        parts.append(_text(x0 + width_map / 2, top - 26, col_label, "middle"))
    parts.append(_text(14, top + height_map / 2, row_label, "middle", rotate=True))
    width = left + len(panels) * (panel_width + gap) - gap + 12
    height = top + height_map + 44
    if fr > 1 or fc > 1:
        caption = (caption + "; " if caption else "") + (
            f"{rows}x{cols} entries pooled to {pr}x{pc} cells, each the entry of largest magnitude"
        )
    svg = (
        f'<svg class="heatmap" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" style="{FONT}">' + "".join(parts) + "</svg>"
    )
    return f'<figure class="figure">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _panel(
    panel: Panel, values: np.ndarray, x0: float, y0: float, cell: int, size: tuple[int, int],
    factors: tuple[int, int], row_shape: tuple[int, ...], col_shape: tuple[int, ...],
) -> str:  # fmt: skip
    scale = panel.scale if panel.scale is not None else scale_of(panel.values)
    pr, pc = values.shape
    out = [f'<g class="panel" data-title="{html.escape(panel.title)}" data-scale="{scale:.6g}">']
    out.append(f'<rect x="{x0}" y="{y0}" width="{pc * cell}" height="{pr * cell}" fill="{ZERO}"/>')
    out.append(f'<g class="cells" transform="translate({x0} {y0}) scale({cell})" shape-rendering="crispEdges">')
    out += [f'<path fill="{fill}" d="{d}"/>' for fill, d in _runs(values, scale).items()]
    out.append("</g>")
    if panel.mark_worst and values.size:
        magnitude = np.where(np.isfinite(values), np.abs(values), np.inf)
        r, c = np.unravel_index(int(np.argmax(magnitude)), values.shape)
        if magnitude[r, c] > 0:
            out.append(
                f'<rect class="worst" x="{x0 + c * cell - 1.5}" y="{y0 + r * cell - 1.5}" width="{cell + 3}"'
                f' height="{cell + 3}" fill="none" stroke="#000" stroke-width="1.5"/>'
            )
    out += _grid(x0, y0, cell, size, factors, row_shape, col_shape, (pr, pc))
    out.append(
        f'<rect x="{x0}" y="{y0}" width="{pc * cell}" height="{pr * cell}" fill="none" stroke="#999" stroke-width="1"/>'
    )
    out.append(_legend(x0, y0 + pr * cell + 14, max(pc * cell, 150), scale))
    out.append("</g>")
    return "".join(out)


def _runs(values: np.ndarray, scale: float) -> dict[str, str]:
    """Path data per colour: each row's runs of cells of one colour level as ``M c r h n v 1 h -n z``
    (zero cells are the background)."""
    finite = np.isfinite(values)
    level = np.zeros(values.shape, dtype=int)
    if scale > 0:
        level[finite] = np.clip(np.rint(values[finite] / scale * LEVELS), -LEVELS, LEVELS).astype(int)
    paths: dict[str, list[str]] = {}
    for r in range(values.shape[0]):
        c = 0
        while c < values.shape[1]:
            key = None if not finite[r, c] else int(level[r, c])
            end = c + 1
            while end < values.shape[1] and (None if not finite[r, end] else int(level[r, end])) == key:
                end += 1
            if key != 0:
                fill = NOT_FINITE if key is None else colour(key / LEVELS)
                paths.setdefault(fill, []).append(f"M{c} {r}h{end - c}v1h-{end - c}z")
            c = end
    return {fill: "".join(d) for fill, d in paths.items()}


def _grid(
    x0: float, y0: float, cell: int, size: tuple[int, int], factors: tuple[int, int],
    row_shape: tuple[int, ...], col_shape: tuple[int, ...], pooled: tuple[int, int],
) -> list[str]:  # fmt: skip
    """Tick lines between the groups of the shapes' leading axes, and their indices."""
    out = []
    for axis, shape in ((0, row_shape), (1, col_shape)):
        length = (pooled[1] if axis == 0 else pooled[0]) * cell
        per_cell = cell / factors[axis]
        for depth, step in enumerate(_steps(shape)):
            count = size[axis] // step
            if count < 2 or step * per_cell < (12 if depth == 0 else 20):
                continue
            colour_, width = ("#222", 1.2) if depth == 0 else ("#888", 0.6)
            for k in range(1, count):
                at = k * step * per_cell
                x1, y1, x2, y2 = (
                    (x0, y0 + at, x0 + length, y0 + at) if axis == 0 else (x0 + at, y0, x0 + at, y0 + length)
                )
                out.append(
                    f'<line x1="{x1:.6g}" y1="{y1:.6g}" x2="{x2:.6g}" y2="{y2:.6g}" stroke="{colour_}"'
                    f' stroke-width="{width}"/>'
                )
        step = _steps(shape)[0] if len(shape) > 1 else 1
        count = shape[0] if shape else 1
        if count < 2 or count > 32 or step * per_cell < 11:
            continue
        for k in range(count):
            centre = (k + 0.5) * step * per_cell
            if axis == 0:
                out.append(_text(x0 - 4, y0 + centre + 4, str(k), "end", small=True))
            else:
                out.append(_text(x0 + centre, y0 - 4, str(k), "middle", small=True))
    return out


def _steps(shape: tuple[int, ...]) -> list[int]:
    """The row-major strides of a shape's leading axes (the outermost first): where groups end."""
    return [int(np.prod(shape[k:])) for k in range(1, len(shape))] or [1]


def _legend(x0: float, y0: float, width: float, scale: float) -> str:
    """A colour bar from -scale to +scale under a panel."""
    half = 10  # steps each side of zero
    piece = width / (2 * half + 1)
    bars = "".join(
        f'<rect x="{x0 + k * piece:.1f}" y="{y0}" width="{piece + 0.3:.1f}" height="9"'
        f' fill="{colour((k - half) / half)}"/>'
        for k in range(2 * half + 1)
    )
    labels = (
        _text(x0, y0 + 21, f"{-scale:.3g}", "start", small=True)
        + _text(x0 + width / 2, y0 + 21, "0", "middle", small=True)
        + _text(x0 + width, y0 + 21, f"{scale:.3g}", "end", small=True)
    )
    return f'<g class="legend" shape-rendering="crispEdges">{bars}</g>' + labels


def _text(x: float, y: float, text: str, anchor: str, bold: bool = False, small: bool = False,
          rotate: bool = False) -> str:  # fmt: skip
    style = ' font-weight="bold"' if bold else ""
    style += ' font-size="10"' if small else ""
    turn = f' transform="rotate(-90 {x:.6g} {y:.6g})"' if rotate else ""
    return f'<text x="{x:.6g}" y="{y:.6g}" text-anchor="{anchor}"{style}{turn}>{html.escape(text)}</text>'
