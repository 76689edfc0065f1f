"""A job's learning curves in the terminal: training, validation and full-validation loss (or token accuracy).

Training loss is a braille line (2×4 dots a cell) because it is the one curve read for its
shape; validation (`•`) and full validation at epoch ends (`◆`) are glyphs a cell wide, so the
three series stay apart with no colour at all (NO_COLOR, 16-colour terminals) and colour only
helps. When a job has more steps than the chart has dots, each column shows the mean of its
steps: the line stays smooth and drawing costs the same for 100 steps or 100,000.

The x axis runs to the job's total steps when known, so the chart does not rescale as points
arrive; the y axis follows the data with a little room. The whole picture is drawn once per
change of data, view or size and kept as strips, so a repaint between two points costs nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from core.service.watch import METRIC_KEYS, MetricPoint

EMPTY = "No metrics yet: points appear when training starts."
EMPTY_SHORT = "No metrics yet"
NO_ACCURACY = "No token accuracy in these metrics."
NO_ACCURACY_SHORT = "No token accuracy"
TRAIN_GLYPH, VALID_GLYPH, FULL_GLYPH, MARKER_GLYPH = "━", "•", "◆", "┊"
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [dot row][dot column]


@dataclass(frozen=True)
class Series:
    """One curve: which metric, what the legend calls it, how it is drawn."""

    key: str
    label: str
    short: str
    glyph: str
    part: str  # component class suffix: train, valid or full


LOSS = (
    Series("train_loss", "train", "train", TRAIN_GLYPH, "train"),
    Series("valid_loss", "validation", "valid", VALID_GLYPH, "valid"),
    Series("full_valid_loss", "full validation", "full", FULL_GLYPH, "full"),
)
ACCURACY = (
    Series("train_mean_token_accuracy", "train", "train", TRAIN_GLYPH, "train"),
    Series("valid_mean_token_accuracy", "validation", "valid", VALID_GLYPH, "valid"),
    Series("full_valid_mean_token_accuracy", "full validation", "full", FULL_GLYPH, "full"),
)


class LossChart(Widget, can_focus=False):
    """Loss (or token accuracy) against steps, a legend with the latest values, an optional alarm marker."""

    COMPONENT_CLASSES = {
        "loss-chart--train",
        "loss-chart--valid",
        "loss-chart--full",
        "loss-chart--axis",
        "loss-chart--marker",
    }
    DEFAULT_CSS = """
    LossChart {
        width: 1fr;
        height: 12;
        & > .loss-chart--train { color: $text-primary; }
        & > .loss-chart--valid { color: $text-warning; }
        & > .loss-chart--full { color: $text-success; text-style: bold; }
        & > .loss-chart--axis { color: $text-muted; }
        & > .loss-chart--marker { color: $text-error; }
    }
    """

    show_accuracy: reactive[bool] = reactive(False)
    """False: the loss view; True: token accuracy (train, validation, full validation)."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # Per metric, steps in order and their values: a column's mean is then a slice's sum.
        self._steps: dict[str, list[int]] = {key: [] for key in METRIC_KEYS}
        self._values: dict[str, list[float]] = {key: [] for key in METRIC_KEYS}
        self._total_steps: int | None = None  # given to set_points; wins over the points' own
        self._points_total: int | None = None  # the newest total_steps the points carried
        self._marker: int | None = None
        self._strips: list[Strip] | None = None
        self._drawn_size: tuple[int, int] = (0, 0)
        self._styles: dict[str, Style] = {}

    # ------------------------------------------------------------- data
    def set_points(self, points: Sequence[MetricPoint], total_steps: int | None = None) -> None:
        """Show these points only (another job, or a reload); `total_steps` fixes the x axis."""
        for key in METRIC_KEYS:
            self._steps[key].clear()
            self._values[key].clear()
        self._total_steps = total_steps
        self._points_total = None
        self.add_points(points)

    def add_points(self, points: Sequence[MetricPoint]) -> None:
        """Points that arrived while the job trains; older ones stay."""
        for point in points:
            if point.total_steps:
                self._points_total = point.total_steps
            for key, value in point.values.items():
                if key not in self._steps or not math.isfinite(value):  # a diverged run logs nan: no dot for it
                    continue
                steps, values = self._steps[key], self._values[key]
                if not steps or point.step >= steps[-1]:
                    steps.append(point.step)
                    values.append(value)
                else:  # late or out of order (a reload): keep the order
                    at = bisect_right(steps, point.step)
                    steps.insert(at, point.step)
                    values.insert(at, value)
        self._changed()

    def set_marker(self, step: int | None) -> None:
        """A dashed vertical line at `step` (where the overfitting alarm fired); None removes it."""
        self._marker = step
        self._changed()

    def watch_show_accuracy(self) -> None:
        self._changed()

    def _changed(self) -> None:
        self._strips = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # a new theme: new colours
        self._strips = None

    # ------------------------------------------------------------- drawing
    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._strips is None or self._drawn_size != (width, height):
            self._strips = self._draw(width, height)
            self._drawn_size = (width, height)
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self._style(None))

    def _style(self, part: str | None) -> Style:
        style = self._styles.get(part)
        if style is None:
            base = self.rich_style
            if part is None:
                style = base
            elif part == "title":
                style = base + Style(bold=True)
            else:
                # The full style, not the partial one: only it blends a translucent colour
                # such as $text-muted over the background.
                style = base + self.get_component_rich_style(f"loss-chart--{part}")
            self._styles[part] = style
        return style

    def _draw(self, width: int, height: int) -> list[Strip]:
        """Every row of the chart for this size, as strips."""
        if width <= 0 or height <= 0:
            return []
        view = ACCURACY if self.show_accuracy else LOSS
        shown = [series for series in view if self._steps[series.key]]
        if not shown:
            text, short = (NO_ACCURACY, NO_ACCURACY_SHORT) if self.show_accuracy and any(self._steps.values()) else (EMPTY, EMPTY_SHORT)
            return self._message(text if len(text) <= width else short, width, height)
        if height < 5 or width < 20:
            canvas = Canvas(width, height)
            self._legend(canvas, shown, 0)
            return canvas.strips(self._style)

        xmax = self._xmax()
        extremes = [f(self._values[series.key]) for series in shown for f in (min, max)]
        lo, hi = y_range(extremes, self.show_accuracy)
        plot_h = height - 3  # legend above; axis line and step labels below
        ticks, decimals = nice_ticks(lo, hi, max(2, min(5, (plot_h + 1) // 2)))
        labels = [f"{t:.{decimals}f}" for t in ticks]
        gutter = max(map(len, labels)) + 2  # label, space, axis
        plot_w = width - gutter
        if plot_w < 8:  # labels would leave no room for a chart: the legend says what there is
            canvas = Canvas(width, height)
            self._legend(canvas, shown, 0)
            return canvas.strips(self._style)

        plot = Plot(plot_w, plot_h, xmax, lo, hi)
        canvas = Canvas(width, height)
        top = 1
        # The y axis: a label on the row each tick value falls in.
        used_rows = set()
        for tick, label in zip(ticks, labels):
            row = plot.dot_y(tick) // 4
            if row in used_rows:
                continue
            used_rows.add(row)
            canvas.put(top + row, gutter - 2 - len(label), label, "axis")
        for row in range(plot_h):
            canvas.put(top + row, gutter - 1, "┤" if row in used_rows else "│", "axis")
        # The x axis: ticks on the line, step numbers under it.
        axis_row = top + plot_h
        canvas.put(axis_row, gutter - 1, "└" + "─" * plot_w, "axis")
        for _, column in self._x_labels(plot, width, gutter, canvas, axis_row + 1):
            canvas.put(axis_row, gutter + column, "┬", "axis")

        series_by_part = {series.part: series for series in shown}
        if "train" in series_by_part:
            key = series_by_part["train"].key
            for row, column, char in plot.braille(self._steps[key], self._values[key]):
                canvas.put(top + row, gutter + column, char, "train")
        if "valid" in series_by_part:
            key = series_by_part["valid"].key
            for row, column in plot.cells(self._steps[key], self._values[key], mean=True):
                # Under the training line: a gap in the line would read as a jump, and a
                # validation point on the line says nothing the line does not.
                if canvas.blank(top + row, gutter + column):
                    canvas.put(top + row, gutter + column, VALID_GLYPH, "valid")
        if "full" in series_by_part:
            key = series_by_part["full"].key
            for row, column in plot.cells(self._steps[key], self._values[key], mean=False):
                canvas.put(top + row, gutter + column, FULL_GLYPH, "full")
        if self._marker is not None and 0 <= self._marker <= xmax:
            column = plot.dot_x(self._marker) // 2
            for row in range(plot_h):
                if canvas.blank(top + row, gutter + column):  # the data stays readable across it
                    canvas.put(top + row, gutter + column, MARKER_GLYPH, "marker")
            canvas.put(axis_row, gutter + column, "┴", "marker")

        self._legend(canvas, shown, gutter)
        return canvas.strips(self._style)

    def _xmax(self) -> int:
        """The last step on the x axis: the job's total when known, so the axis never moves."""
        last = max((steps[-1] for steps in self._steps.values() if steps), default=0)
        total = self._total_steps or self._points_total
        if total is None:
            total = max(last, self._marker or 0)
        return max(1, total, last)

    def _x_labels(self, plot: Plot, width: int, gutter: int, canvas: Canvas, row: int) -> list[tuple[int, int]]:
        """Write step numbers under the axis (0, a few round ones, the last); the ticks they label."""
        xmax = plot.xmax
        room = len(str(xmax)) + 4
        steps = nice_steps(xmax, max(2, plot.width // room))
        if steps[-1] != xmax:
            steps.append(xmax)
        taken: list[tuple[int, int]] = []  # (start, end) cells already labelled
        placed = []
        # The first and last labels are placed first: they give the axis its range.
        order = [steps[0], steps[-1], *steps[1:-1]]
        for step in order:
            column = plot.dot_x(step) // 2
            text = str(step)
            start = gutter + column - len(text) // 2
            start = max(gutter, min(start, width - len(text)))
            end = start + len(text)
            if any(start < b + 2 and a < end + 2 for a, b in taken):
                continue
            taken.append((start, end))
            placed.append((step, column))
            canvas.put(row, start, text, "axis")
        if gutter >= 6:
            canvas.put(row, gutter - 6, "step", "axis")
        return placed

    def _legend(self, canvas: Canvas, shown: list[Series], indent: int) -> None:
        """The series with their glyphs and latest values, as much as the width allows."""
        entries = [(s.glyph, s.part, s.label, s.short, f"{self._values[s.key][-1]:.3f}") for s in shown]
        title = "Token accuracy" if self.show_accuracy else "Loss"
        marker = short_marker = []
        if self._marker is not None:
            marker = [(MARKER_GLYPH, "marker", f"alarm at step {self._marker}")]
            short_marker = [(MARKER_GLYPH, "marker", f"alarm {self._marker}")]
        full = [(g, p, f"{label} {value}") for g, p, label, _, value in entries]
        short = [(g, p, f"{label} {value}") for g, p, _, label, value in entries]
        bare = [(g, p, value) for g, p, _, _, value in entries]
        variants = [  # the first that fits wins: the view's name, then the alarm, then full names
            (title, full + marker, "   "),
            (title, full + short_marker, "   "),
            (title, full + short_marker, "  "),
            (title, short + short_marker, "  "),
            (None, short + short_marker, "  "),
            (None, short, "  "),
            (None, bare, " "),
        ]
        for title_text, parts, gap in variants:
            length = (len(title_text) + 2 if title_text else 0) + sum(len(t) + 2 for _, _, t in parts) + len(gap) * (len(parts) - 1)
            for start in (indent, 0):
                if start + length <= canvas.width:
                    break
            else:
                continue
            x = start
            if title_text:
                canvas.put(0, x, title_text, "title")
                x += len(title_text) + 2
            for glyph, part, text in parts:
                canvas.put(0, x, glyph, part)
                canvas.put(0, x + 2, text, None)
                x += len(text) + 2 + len(gap)
            return
        x = 0  # narrower than any form: as many bare entries as fit
        for glyph, part, text in bare:
            if x + len(text) + 2 > canvas.width:
                break
            canvas.put(0, x, glyph, part)
            canvas.put(0, x + 2, text, None)
            x += len(text) + 3

    def _message(self, text: str, width: int, height: int) -> list[Strip]:
        canvas = Canvas(width, height)
        text = text[:width]
        canvas.put(max(0, (height - 1) // 2), max(0, (width - len(text)) // 2), text, "axis")
        return canvas.strips(self._style)


class Plot:
    """Where steps and values fall on a grid of `width`×`height` cells (braille dots: ×2, ×4)."""

    def __init__(self, width: int, height: int, xmax: int, lo: float, hi: float) -> None:
        self.width, self.height, self.xmax = width, height, xmax
        self.dots_w, self.dots_h = width * 2, height * 4
        self.lo, self.hi = lo, hi
        self._fx = (self.dots_w - 1) / xmax
        self._fy = (self.dots_h - 1) / (hi - lo)

    def dot_x(self, step: float) -> int:
        return min(self.dots_w - 1, max(0, int(step * self._fx + 0.5)))

    def dot_y(self, value: float) -> int:
        """Dot row, 0 at the top."""
        return min(self.dots_h - 1, max(0, int((self.hi - value) * self._fy + 0.5)))

    def _means(self, steps: list[int], values: list[float], columns: int, per: int) -> list[tuple[int, float]]:
        """(column, mean value) of each column that has points; `per` dot columns a column.

        `steps` are in order, so a column's points are one slice: a bisection and a sum in C
        per column instead of a Python loop over every point.
        """
        means = []
        start, count, fx = 0, len(steps), self._fx
        for column in range(columns):
            if start == count:
                break
            # A step falls on dot int(step * fx + 0.5): before the next column's first dot when
            # step < (first dot - 0.5) / fx.
            end = count if column == columns - 1 else bisect_left(steps, ((column + 1) * per - 0.5) / fx, start)
            if end > start:
                means.append((column, sum(values[start:end]) / (end - start)))
                start = end
        return means

    def braille(self, steps: list[int], values: list[float]) -> list[tuple[int, int, str]]:
        """(row, column, braille character) of the cells a line through the column means crosses."""
        means = self._means(steps, values, self.dots_w, 1)
        bits: dict[tuple[int, int], int] = {}

        def dot(x: int, y: int) -> None:
            cell = (y >> 2, x >> 1)
            bits[cell] = bits.get(cell, 0) | _BRAILLE_BITS[y & 3][x & 1]

        previous = None
        for x, mean in means:
            y = self.dot_y(mean)
            if previous is None:
                dot(x, y)
            else:
                for px, py in _line(*previous, x, y):
                    dot(px, py)
            previous = (x, y)
        return [(row, column, chr(0x2800 + b)) for (row, column), b in bits.items()]

    def cells(self, steps: list[int], values: list[float], *, mean: bool) -> list[tuple[int, int]]:
        """(row, column) of each cell column's mean (`mean`), or of every point (few: epoch ends)."""
        if mean:
            return [(self.dot_y(v) >> 2, c) for c, v in self._means(steps, values, self.width, 2)]
        return [(self.dot_y(v) >> 2, self.dot_x(s) >> 1) for s, v in zip(steps, values)]


class Canvas:
    """Characters and the style part of each cell; turned into one strip a row."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.chars = [[" "] * width for _ in range(height)]
        self.parts: list[list[str | None]] = [[None] * width for _ in range(height)]

    def put(self, row: int, x: int, text: str, part: str | None) -> None:
        if not 0 <= row < self.height:
            return
        chars, parts = self.chars[row], self.parts[row]
        for k, char in enumerate(text):
            if 0 <= x + k < self.width:
                chars[x + k] = char
                parts[x + k] = part

    def blank(self, row: int, x: int) -> bool:
        return self.chars[row][x] == " "

    def strips(self, style_of) -> list[Strip]:
        strips = []
        for chars, parts in zip(self.chars, self.parts):
            segments = []
            start = 0
            for x in range(1, self.width + 1):
                if x == self.width or parts[x] != parts[start]:
                    segments.append(Segment("".join(chars[start:x]), style_of(parts[start])))
                    start = x
            strips.append(Strip(segments, self.width))
        return strips


def _line(x0: int, y0: int, x1: int, y1: int):
    """The dots from (x0, y0) to (x1, y1), both ends included (Bresenham)."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    while True:
        yield x0, y0
        if x0 == x1 and y0 == y1:
            return
        twice = 2 * error
        if twice >= dy:
            error += dy
            x0 += sx
        if twice <= dx:
            error += dx
            y0 += sy


def y_range(values: list[float], accuracy: bool) -> tuple[float, float]:
    """The values' range with a little room above and below (never below 0, accuracy never above 1)."""
    lo, hi = min(values), max(values)
    span = hi - lo
    pad = span * 0.08 if span > 0 else max(abs(hi) * 0.1, 0.05)
    low, high = lo - pad, hi + pad
    if lo >= 0:
        low = max(0.0, low)
    if accuracy and hi <= 1:
        high = min(1.0, high)
    if high <= low:
        high = low + 0.1
    return low, high


def nice_ticks(lo: float, hi: float, most: int) -> tuple[list[float], int]:
    """Round values (steps of 1, 2, 2.5 or 5 ×10ⁿ) inside lo..hi, at most `most`; and the decimals they need."""
    magnitude = 10 ** math.floor(math.log10((hi - lo) / most))
    for mantissa in (1, 2, 2.5, 5, 10, 20):
        step = mantissa * magnitude
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        if last - first + 1 <= most:
            break
    ticks = [k * step for k in range(first, last + 1)] or [(lo + hi) / 2]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if mantissa in (2.5,) else 0)
    return ticks, max(2, decimals)


def nice_steps(xmax: int, most: int) -> list[int]:
    """0 and round step numbers (1, 2, 5 ×10ⁿ apart) up to xmax, at most `most` of them."""
    magnitude = 1
    while True:
        for mantissa in (1, 2, 5):
            gap = mantissa * magnitude
            if xmax // gap + 1 <= most:
                return list(range(0, xmax + 1, gap))
        magnitude *= 10
