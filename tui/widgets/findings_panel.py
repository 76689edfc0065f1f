"""The findings panel: a file's findings grouped by code, each one a key away from its example.

`FindingsModel` holds the findings known so far (from the ranges checked so far, or from a
finished report), each with its record in a `Layout`'s order, so the screen can follow them
through edits; `FindingsPanel` draws them as a virtual list, folded by code when there are many.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass
from functools import partial
from operator import itemgetter

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.dataset import CODES, Finding
from core.dataset.validate import Report
from tui.widgets.example_list import MARKS, Layout, component_style, one_line, text_strip


class FindingsModel:
    """The findings known so far, grouped by code, each with its record in `layout`'s order."""

    def __init__(self, layout: Layout, version: int, *, partial: bool):
        self.layout = layout
        self.version = version
        self.partial = partial
        self.groups: dict[str, list[tuple[int, Finding]]] = {}
        self.by_record: dict[int, list[Finding]] = {}
        self.total = 0
        self._sorted: dict[tuple, array] = {}

    @classmethod
    def of_report(cls, layout: Layout, version: int, report: Report, records: array) -> FindingsModel:
        model = cls(layout, version, partial=False)
        model.add(list(zip(records, report.findings)))
        return model

    def add(self, pairs: list[tuple[int, Finding]]) -> None:
        touched = set()
        for record, finding in pairs:
            group = self.groups.setdefault(finding.code, [])
            if group and group[-1][0] > record:
                touched.add(finding.code)  # ranges can finish out of order
            group.append((record, finding))
            if record >= 0:
                self.by_record.setdefault(record, []).append(finding)
        for code in touched:
            self.groups[code].sort(key=itemgetter(0))
        self.total += len(pairs)
        self._sorted.clear()

    def ordered_groups(self) -> list[tuple[str, list[tuple[int, Finding]]]]:
        """Errors first, then warnings; within each, in the order they first occur."""
        return sorted(self.groups.items(), key=lambda kv: (CODES[kv[0]][0] != "error", _first_record(kv[1])))

    def records(self, codes: frozenset[str] | None = None) -> array:
        """Sorted records with a finding (with one of `codes`)."""
        key = (codes,)
        if key not in self._sorted:  # array: 8 bytes a record, however many problems there are
            wanted = self.groups if codes is None else {c: self.groups.get(c, ()) for c in codes}
            self._sorted[key] = array("q", sorted({r for group in wanted.values() for r, _ in group if r >= 0}))
        return self._sorted[key]


def _first_record(group: list[tuple[int, Finding]]) -> int:
    return min((r for r, _ in group if r >= 0), default=1 << 62)


def error_codes() -> frozenset[str]:
    return frozenset(code for code, (severity, _) in CODES.items() if severity == "error")


class FindingsPanel(ScrollView, can_focus=True, inherit_bindings=False):
    """Findings grouped by code with counts; Enter on one jumps to its example."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous finding", id="findings.up", show=False),
        Binding("down", "cursor(1)", "Next finding", id="findings.down", show=False),
        Binding("pageup", "cursor(-10)", "Page up", id="findings.page_up", show=False),
        Binding("pagedown", "cursor(10)", "Page down", id="findings.page_down", show=False),
        Binding("home", "cursor(-1000000000)", "First finding", id="findings.first", show=False),
        Binding("end", "cursor(1000000000)", "Last finding", id="findings.last", show=False),
        Binding("enter", "select", "Jump", id="findings.select", tooltip="Jump to the finding's example; on a code: filter the list by it"),
        Binding("space", "fold", "Fold", id="findings.fold", tooltip="Fold or unfold the findings of a code"),
    ]
    COMPONENT_CLASSES = {"findings--title", "findings--cursor", "findings--error", "findings--warning", "findings--line", "findings--code"}
    DEFAULT_CSS = """
    FindingsPanel {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        background: $surface;
        & > .findings--title { text-style: bold; background: $panel; }
        & > .findings--cursor { background: $block-cursor-blurred-background; }
        &:focus > .findings--cursor { background: $block-cursor-background; }
        & > .findings--error { color: $text-error; text-style: bold; }
        & > .findings--warning { color: $text-warning; text-style: bold; }
        & > .findings--line { color: $text-muted; }
        & > .findings--code { text-style: bold; }
    }
    """

    @dataclass
    class Jump(Message):
        """Enter on a finding: go to its example (`record` in the model's layout, or a `line`)."""

        record: int | None
        line: int | None

    @dataclass
    class FilterCode(Message):
        code: str

    @dataclass
    class Selected(Message):
        finding: Finding | None

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: FindingsModel | None = None
        self.status = "not checked yet"
        self.folded: set[str] = set()
        self.auto_fold = True  # large sets start folded, until the user unfolds something
        self._groups: list[tuple[str, list[tuple[int, Finding]]]] = []
        self._by_code: dict[str, list[tuple[int, Finding]]] = {}
        self._starts: list[int] = []
        self.count = 0
        self.cursor = 0

    def show(self, model: FindingsModel | None, status: str) -> None:
        keep = self._item(self.cursor)
        self.model, self.status = model, status
        self._groups = model.ordered_groups() if model is not None else []
        self._by_code = dict(self._groups)
        if self.auto_fold and model is not None and model.total > 200:
            self.folded = {code for code, _ in self._groups}
        self._layout_rows()
        if keep is not None:
            self.cursor = self._position_of(keep)
        self.cursor = max(0, min(self.cursor, self.count - 1))
        self.refresh()

    def _layout_rows(self) -> None:
        self._starts, row = [], 0
        for code, items in self._groups:
            self._starts.append(row)
            row += 1 + (0 if code in self.folded else len(items))
        self.count = row
        self.virtual_size = Size(0, row + 1)

    def _item(self, position: int) -> tuple[str, int] | None:
        """(code, -1 for its header or the finding's place in the group) at a row."""
        if not self._groups or position >= self.count:
            return None
        g = bisect_right(self._starts, position) - 1
        return self._groups[g][0], position - self._starts[g] - 1

    def _position_of(self, item: tuple[str, int]) -> int:
        for (code, items), start in zip(self._groups, self._starts):
            if code == item[0]:
                return start + (0 if code in self.folded else min(item[1], len(items) - 1) + 1)
        return 0

    def selected(self) -> Finding | None:
        item = self._item(self.cursor)
        if item is None or item[1] < 0:
            return None
        return self._by_code[item[0]][item[1]][1]

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, self.count - 1)) if self.count else 0
        top, page = self.scroll_offset.y, max(1, self.scrollable_content_region.height - 1)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False)
        self.refresh()
        self.post_message(self.Selected(self.selected()))

    def action_fold(self) -> None:
        item = self._item(self.cursor)
        if item is None:
            return
        self.auto_fold = False
        self.folded ^= {item[0]}
        self._layout_rows()
        self.cursor = self._position_of((item[0], -1))
        self.refresh()

    def action_select(self) -> None:
        item = self._item(self.cursor)
        if item is None:
            return
        code, place = item
        if place < 0:
            self.post_message(self.FilterCode(code))
            return
        record, finding = self._by_code[code][place]
        if record >= 0:
            self.post_message(self.Jump(record, None))
        elif finding.related_line is not None:
            self.post_message(self.Jump(None, finding.related_line))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        style = partial(component_style, self)
        if y == 0:
            total = self.model.total if self.model is not None else 0
            title_style = base + style("findings--title")
            title = Text(f" Findings {total:,}" + (f" · {len(self._groups)} codes" if self._groups else "") + f"  {self.status}", style=title_style, no_wrap=True)
            title.truncate(width, overflow="ellipsis")
            return text_strip(title, width, self.app.console)
        position = self.scroll_offset.y + y - 1
        item = self._item(position)
        if item is None:
            if y == 1 and self.model is not None and not self.model.total and not self.status:
                return text_strip(Text("   no problems found", style=base + style("findings--line")), width, self.app.console)
            return Strip.blank(width, base)
        code, place = item
        items = self._by_code[code]
        line_style = base + style("findings--cursor") if position == self.cursor else base
        severity = CODES[code][0]
        text = Text(style=line_style, no_wrap=True, end="")
        if place < 0:
            text.append(" ▸ " if code in self.folded else " ▾ ")
            text.append(MARKS[severity], style(f"findings--{severity}"))
            text.append(f" {code}", style("findings--code"))
            count = f"{len(items):,} "
            text.truncate(max(0, width - len(count)), overflow="ellipsis", pad=True)
            text.append(count)
        else:
            _, finding = items[place]
            where = f"{finding.line:>6}" if finding.line is not None else "  file"
            text.append(f"   {where} ", style("findings--line"))
            text.append(one_line(finding.message))
            text.truncate(width, overflow="ellipsis")
        return text_strip(text, width, self.app.console)

    def on_click(self, event) -> None:
        if event.y >= 1:
            self.cursor = self.scroll_offset.y + event.y - 1
            self.action_cursor(0)

    def on_focus(self) -> None:
        self.refresh()
        self.post_message(self.Selected(self.selected()))

    def on_blur(self) -> None:
        self.refresh()
