"""The loss chart: curves where the numbers put them, glyphs that tell series apart, a fixed x axis, a picture.

The chart is hosted alone in a tiny app and read back as text, row by row: what a user sees
with no colour at all.
"""

from __future__ import annotations

import math
import random

import pytest
from textual.app import App, ComposeResult

from core.service.watch import MetricPoint
from tui.widgets.loss_chart import EMPTY, LossChart


class Host(App):
    """The chart filling the terminal, its data given before the first frame."""

    CSS = "LossChart { height: 1fr; }"

    def __init__(self, points=(), total_steps: int | None = None, marker: int | None = None) -> None:
        super().__init__()
        self.chart = LossChart()
        self.points, self.total_steps, self.marker = list(points), total_steps, marker

    def compose(self) -> ComposeResult:
        yield self.chart

    def on_mount(self) -> None:
        self.chart.set_points(self.points, self.total_steps)
        self.chart.set_marker(self.marker)


def point(step: int, total: int | None = None, **values: float) -> MetricPoint:
    return MetricPoint("ftjob-1", step, total, 1_700_000_000 + step, values)


def rows(chart: LossChart) -> list[str]:
    return [chart.render_line(y).text for y in range(chart.size.height)]


def is_braille(char: str) -> bool:
    return "\u2801" <= char <= "\u28ff"


def plot_area(lines: list[str]) -> tuple[int, int, list[str]]:
    """(first plot column, plot width, plot rows): the plot is right of the axis corner, above the axis."""
    axis = next(y for y, line in enumerate(lines) if "└" in line)
    left = lines[axis].index("└") + 1
    return left, len(lines[axis]) - left, lines[1:axis]


def column_of(step: int, xmax: int, plot_width: int) -> int:
    """The plot column a step falls in: steps 0..xmax spread over every braille dot column."""
    return round(step / xmax * (2 * plot_width - 1)) // 2


def cells(plot: list[str], left: int, wanted) -> list[tuple[int, int]]:
    """(row, plot column) of each cell whose character `wanted` accepts."""
    return [(y, x - left) for y, line in enumerate(plot) for x, char in enumerate(line) if x >= left and wanted(char)]


def y_labels(lines: list[str]) -> list[float]:
    return [float(line.split("┤")[0]) for line in lines[1:] if "┤" in line]


# ----------------------------------------------------------------- the curves


@pytest.mark.asyncio
async def test_falling_training_loss_runs_from_top_left_to_bottom_right():
    app = Host([point(s, 100, train_loss=2.2 - 0.019 * s) for s in range(1, 101)])
    async with app.run_test(size=(78, 10)):
        left, width, plot = plot_area(rows(app.chart))
        line = sorted(cells(plot, left, is_braille), key=lambda cell: cell[1])
        (first_row, first_column), (last_row, last_column) = line[0], line[-1]
        assert first_column <= 1 and last_column >= width - 2  # steps 1..100 of 100 span the chart
        assert first_row == 0 and last_row == len(plot) - 1  # high on the left, low on the right
        # A line, not scattered dots: every column between has a cell of it.
        assert {column for _, column in line} == set(range(first_column, last_column + 1))


@pytest.mark.asyncio
async def test_validation_and_full_validation_have_their_own_glyphs_at_their_steps():
    points = [point(s, 100, train_loss=1.2 - 0.002 * s) for s in range(1, 101)]
    points[24] = point(25, 100, train_loss=1.15, valid_loss=1.9)
    points[74] = point(75, 100, train_loss=1.05, valid_loss=2.0)
    points[49] = point(50, 100, train_loss=1.1, full_valid_loss=0.3)
    points[99] = point(100, 100, train_loss=1.0, full_valid_loss=0.2)
    app = Host(points)
    async with app.run_test(size=(78, 12)):
        lines = rows(app.chart)
        left, width, plot = plot_area(lines)
        valid = cells(plot, left, lambda c: c == "•")
        full = cells(plot, left, lambda c: c == "◆")
        train_rows = {row for row, _ in cells(plot, left, is_braille)}
        assert sorted(column for _, column in valid) == sorted(column_of(s, 100, width) for s in (25, 75))
        assert sorted(column for _, column in full) == [column_of(s, 100, width) for s in (50, 100)]
        assert all(row < min(train_rows) for row, _ in valid)  # validation loss is the higher one
        assert all(row > max(train_rows) for row, _ in full)
        legend = lines[0]
        # The latest value of each series, not its first or its extreme.
        assert "━ train 1.000" in legend and "• validation 2.000" in legend and "◆ full validation 0.200" in legend


@pytest.mark.asyncio
async def test_x_axis_is_fixed_to_total_steps_while_points_arrive():
    app = Host([point(s, None, train_loss=2.0 - 0.005 * s) for s in range(1, 101)], total_steps=200)
    async with app.run_test(size=(78, 10)) as pilot:
        lines = rows(app.chart)
        left, width, plot = plot_area(lines)
        columns = [column for _, column in cells(plot, left, is_braille)]
        assert max(columns) == column_of(100, 200, width) <= width // 2
        assert lines[-1].rstrip().endswith("200")

        app.chart.add_points([point(s, None, train_loss=2.0 - 0.005 * s) for s in range(101, 201)])
        await pilot.pause()
        lines = rows(app.chart)
        columns = [column for _, column in cells(plot_area(lines)[2], left, is_braille)]
        assert max(columns) == width - 1 and lines[-1].rstrip().endswith("200")


@pytest.mark.asyncio
async def test_without_total_steps_the_last_step_ends_the_axis():
    app = Host([point(s, None, train_loss=2.0 - 0.005 * s) for s in range(1, 61)])
    async with app.run_test(size=(78, 10)):
        lines = rows(app.chart)
        left, width, plot = plot_area(lines)
        assert max(column for _, column in cells(plot, left, is_braille)) == width - 1
        assert lines[-1].rstrip().endswith("60") and lines[-1].split()[:2] == ["step", "0"]


@pytest.mark.asyncio
async def test_total_steps_comes_from_the_points_when_not_given():
    app = Host([point(s, 400, train_loss=1.0) for s in range(1, 101)])
    async with app.run_test(size=(78, 10)):
        lines = rows(app.chart)
        left, width, plot = plot_area(lines)
        assert max(column for _, column in cells(plot, left, is_braille)) == column_of(100, 400, width)
        assert lines[-1].rstrip().endswith("400")


@pytest.mark.asyncio
async def test_many_points_are_averaged_per_column():
    # Noise that alternates every step: column means are flat, so the line is one row high.
    app = Host([point(s, 5000, train_loss=1.0 + (0.5 if s % 2 else -0.5)) for s in range(1, 5001)])
    async with app.run_test(size=(78, 10)):
        left, width, plot = plot_area(rows(app.chart))
        line = cells(plot, left, is_braille)
        assert len({column for _, column in line}) == width and len({row for row, _ in line}) == 1


@pytest.mark.asyncio
async def test_validation_on_the_training_line_does_not_break_it():
    app = Host([point(s, 100, train_loss=2.0 - 0.015 * s, valid_loss=2.0 - 0.015 * s) for s in range(1, 101)])
    async with app.run_test(size=(78, 10)):
        left, width, plot = plot_area(rows(app.chart))
        assert {column for _, column in cells(plot, left, is_braille)} == set(range(width))
        assert "validation 0.500" in rows(app.chart)[0]


# ----------------------------------------------------------------- views and marks


@pytest.mark.asyncio
async def test_accuracy_view_shows_token_accuracy():
    points = [
        point(s, 50, train_loss=2.0 - 0.03 * s, train_mean_token_accuracy=0.5 + 0.008 * s, valid_mean_token_accuracy=0.45 + 0.008 * s)
        for s in range(1, 51)
    ]
    app = Host(points)
    async with app.run_test(size=(78, 12)) as pilot:
        loss_labels = y_labels(rows(app.chart))
        assert max(loss_labels) >= 1.5 and "train 0.500" in rows(app.chart)[0]

        app.chart.show_accuracy = True
        await pilot.pause()
        lines = rows(app.chart)
        labels = y_labels(lines)
        assert 3 <= len(labels) <= 5 and all(0.0 <= label <= 1.0 for label in labels)
        assert "accuracy" in lines[0].lower()
        assert "train 0.900" in lines[0] and "validation 0.850" in lines[0] and "0.500" not in lines[0]
        assert "full validation" not in lines[0]  # no epoch has ended: no such series yet

        app.chart.show_accuracy = False
        await pilot.pause()
        assert y_labels(rows(app.chart)) == loss_labels


@pytest.mark.asyncio
async def test_marker_draws_a_dashed_line_at_its_step_and_goes_away():
    app = Host([point(s, 100, train_loss=2.0 - 0.015 * s) for s in range(1, 101)], marker=60)
    async with app.run_test(size=(78, 10)) as pilot:
        lines = rows(app.chart)
        left, width, plot = plot_area(lines)
        marks = cells(plot, left, lambda c: c == "┊")
        assert {column for _, column in marks} == {column_of(60, 100, width)}
        assert len(marks) >= len(plot) - 2  # all the way up, but for where the curve crosses it
        assert "alarm" in lines[0] and "60" in lines[0]

        app.chart.set_marker(None)
        await pilot.pause()
        lines = rows(app.chart)
        assert not any("┊" in line for line in lines) and "alarm" not in lines[0]


# ----------------------------------------------------------------- edges


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 10), (78, 5), (30, 4), (19, 12), (14, 3), (5, 2), (1, 1)])
async def test_empty_chart_says_so_at_any_size(size):
    app = Host()
    async with app.run_test(size=size):
        lines = rows(app.chart)
        width = size[0]
        assert len(lines) == size[1] and all(len(line) == width for line in lines)
        shown = "".join(line.strip() for line in lines)
        assert shown == (EMPTY if width >= len(EMPTY) else "No metrics yet"[:width])
        if width >= len(EMPTY):
            row = next(line for line in lines if line.strip())
            assert abs(row.index("N") - (width - len(row.rstrip()))) <= 1  # centred


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 4), (19, 12), (12, 2), (3, 1), (20, 5), (78, 10)])
async def test_small_sizes_keep_the_legend(size):
    app = Host([point(s, 30, train_loss=1.0 + 0.01 * s, valid_loss=1.5) for s in range(1, 31)], marker=10)
    async with app.run_test(size=size):
        lines = rows(app.chart)
        assert len(lines) == size[1] and all(len(line) == size[0] for line in lines)
        if size[0] >= 12:
            assert "1.300" in lines[0]


@pytest.mark.asyncio
async def test_one_point_is_a_dot_and_a_value():
    app = Host([point(1, None, train_loss=1.234, valid_loss=1.5)])
    async with app.run_test(size=(78, 10)):
        lines = rows(app.chart)
        left, _, plot = plot_area(lines)
        assert len(cells(plot, left, is_braille)) == 1 and "train 1.234" in lines[0]
        assert len(cells(plot, left, lambda c: c == "•")) == 1


@pytest.mark.asyncio
async def test_not_a_number_is_left_out():
    app = Host([point(1, 3, train_loss=2.0), point(2, 3, train_loss=math.nan), point(3, 3, train_loss=1.0)])
    async with app.run_test(size=(78, 10)):
        lines = rows(app.chart)
        assert "train 1.000" in lines[0] and all(0 <= label <= 2.5 for label in y_labels(lines))


# ----------------------------------------------------------------- the picture


def realistic_run() -> list[MetricPoint]:
    """120 steps, 3 epochs: training loss falls ~2.2 -> ~0.3, validation turns up in epoch 3."""
    noise = random.Random(7)
    points = []
    for step in range(1, 121):
        t = step / 120
        train = 0.3 + 1.9 * math.exp(-4.5 * t) + noise.uniform(-0.07, 0.07)
        trend = 0.55 + 1.7 * math.exp(-5 * t) + (0.9 * (t - 0.62) ** 2 * 4 if t > 0.62 else 0)
        values = {
            "train_loss": train,
            "train_mean_token_accuracy": min(0.99, 0.93 - 0.4 * math.exp(-4.5 * t) + noise.uniform(-0.02, 0.02)),
            "valid_loss": trend + noise.uniform(-0.12, 0.12),
            "valid_mean_token_accuracy": 0.88 - 0.4 * math.exp(-5 * t) + noise.uniform(-0.03, 0.03),
        }
        if step % 40 == 0:
            values["full_valid_loss"] = trend
            values["full_valid_mean_token_accuracy"] = 0.88 - 0.4 * math.exp(-5 * t)
        points.append(point(step, 120, **values))
    return points


def test_snapshot_of_a_run_that_overfits_in_its_last_epoch(snap_compare):
    assert snap_compare(Host(realistic_run(), marker=96), terminal_size=(80, 14))
