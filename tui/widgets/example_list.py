"""The examples of a dataset as a virtual list: only the rows on screen are read, parsed and drawn.

Like toolong's log view, the list is a `ScrollView` whose `render_line` draws one row at a time
from the document; nothing exists per row beyond what is on screen (and, while the user pages,
the next page that way, drawn in idle time), so a million examples cost what the 24 on screen
cost. Parsed summaries are cached by the record's identity (which changes whenever its bytes
do) and drawn rows by a generation number bumped on every change and by the row's own mark
and token count, so an edit, an undo, a filter or new validation results can never leave a
stale row on screen. `g` takes the line number in the header row itself, so jumping costs no
more than any other key. The list draws its own scroll bar in its last columns (the rows carry
it): Textual's scroll bar widget cost more to draw on every page than the rows themselves
(1.4 ms of a 4 ms page at 120×40, and its compositing as much again).

`Verdicts` holds each record's mark (error, warning, ok, not yet checked) and token count from a
finished validation report or from the ranges checked so far; `Layout` lets those results
follow the records through edits until the next report arrives.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.dataset.rules import INVALID, has_error
from core.dataset.store import Line, Piece
from core.dataset.validate import Columns

MARKS = {"error": "✗", "warning": "!", "ok": "·", None: " "}
ROLE_LETTERS = {"system": "S", "user": "U", "assistant": "A", "tool": "T", "function": "F"}
TEXT_LIMIT = 400  # characters of a message kept for display; wider than any terminal

# Dataset text is untrusted: control characters would move the cursor or change colours in the
# user's terminal. Line breaks and tabs become spaces; every other control becomes its visible
# Control Picture (ESC -> "␛").
_CONTROLS = {c: chr(0x2400 + c) for c in range(32)} | {9: " ", 10: " ", 13: " ", 0x7F: "␡"}
_CONTROLS |= {c: "\ufffd" for c in range(0x80, 0xA0)}


def one_line(text: str) -> str:
    """`text` made safe and short for one terminal row."""
    text = text[:TEXT_LIMIT]
    if text.isprintable():
        # No controls and no whitespace but " " (the usual case): nothing to replace, and
        # spaces to fold only where two meet or one starts or ends the text. A fifth of the
        # cost of drawing a new row was `translate` on text it left as it was.
        if "  " not in text and text[:1] != " " and text[-1:] != " ":
            return text
        return " ".join(text.split())
    return " ".join(text.translate(_CONTROLS).split())


def content_text(content) -> str:
    """The text of a message's `content`: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _messages(example: dict) -> tuple[list, bool]:
    """(messages, is a preference pair): a chat's messages, or a preference record's input."""
    messages = example.get("messages")
    if messages is None and isinstance(example.get("input"), dict):
        return example["input"].get("messages") or [], True
    return (messages if isinstance(messages, list) else []), False


def roles_of(example) -> str:
    """`S U A U A`: one letter per message (P ends a preference pair); empty for a raw line."""
    if not isinstance(example, dict):
        return ""
    messages, preference = _messages(example)
    letters = [ROLE_LETTERS.get(m.get("role"), "?") if isinstance(m, dict) else "?" for m in messages]
    if preference:
        letters.append("P")
    return " ".join(letters)


def example_text(example) -> str:
    """Every piece of text a person wrote in an example (what search looks through)."""
    if not isinstance(example, dict):
        return str(example)
    messages, _ = _messages(example)
    outputs = [m for key in ("preferred_output", "non_preferred_output") for m in (example.get(key) or []) if isinstance(m, dict)]
    parts = []
    for message in list(messages) + outputs:
        if not isinstance(message, dict):
            continue
        parts.append(content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    return "\n".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Summary:
    """What a row shows of one example."""

    roles: str
    text: str  # the first user message, one line
    stand_in: bool  # True when `text` is not a user message (a raw line, keys, another role)


def summarize(example) -> Summary:
    if not isinstance(example, dict):
        return Summary("", one_line(str(example)), True)
    messages, _ = _messages(example)
    if not messages:
        return Summary(roles_of(example), one_line("{" + ", ".join(map(str, example)) + "}"), True)
    first_any = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = content_text(message.get("content"))
        if message.get("role") == "user":
            text = one_line(text)
            return Summary(roles_of(example), text or "(no text)", not text)
        first_any = first_any or text
    return Summary(roles_of(example), one_line(first_any), True)


class Rows(Protocol):
    """What the list reads: a `Dataset`, or the part of a file indexed so far."""

    def __len__(self) -> int: ...
    def __getitem__(self, i: int): ...
    def lineno(self, i: int) -> int: ...
    def identity(self, i: int) -> tuple: ...
    def record_at_line(self, line: int) -> int | None: ...


class Layout:
    """One version of a document's order of records, by keys that survive edits.

    A key is what `Dataset.identity` returns: `(id(source), record number)` for a record still
    read from a file, `("line", bytes)` for a new one. Results computed against one version (a
    validation report, a list of findings) are found again in a later version through the key.
    """

    def __init__(self, pieces: list[Piece]):
        self._pieces = pieces
        self._starts = array("q")
        self._runs: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}  # source -> (los, (hi, start))
        self._lines: dict[bytes, int] = {}
        position = 0
        runs: dict[int, list[tuple[int, int, int]]] = {}
        for piece in pieces:
            self._starts.append(position)
            if isinstance(piece, Line):
                self._lines.setdefault(piece.raw, position)
            else:
                runs.setdefault(id(piece.source), []).append((piece.lo, piece.hi, position))
            position += len(piece)
        self.count = position
        for source, spans in runs.items():
            spans.sort()
            self._runs[source] = ([lo for lo, _, _ in spans], [(hi, start) for _, hi, start in spans])

    def __len__(self) -> int:
        return self.count

    def key(self, i: int) -> tuple:
        p = bisect_right(self._starts, i) - 1
        piece = self._pieces[p]
        if isinstance(piece, Line):
            return ("line", piece.raw)
        return (id(piece.source), piece.lo + i - self._starts[p])

    def index(self, key: tuple) -> int | None:
        """Where the record with this key is in this version, or None when it is not here."""
        if key[0] == "line":
            return self._lines.get(key[1])
        spans = self._runs.get(key[0])
        if spans is None:
            return None
        los, rest = spans
        s = bisect_right(los, key[1]) - 1
        if s < 0 or key[1] >= rest[s][0]:
            return None
        return rest[s][1] + key[1] - los[s]


Verdict = tuple[str | None, int | None]  # (mark: error/warning/ok/None, tokens or None)


class Verdicts:
    """Each record's mark and token count: from a finished report, or from ranges checked so far."""

    def __init__(self) -> None:
        self._chunks: dict[int, tuple[list[int], list[Columns]]] = {}  # source id -> (los, columns)
        self._layout: Layout | None = None  # the version the report was made for
        self._columns: Columns | None = None
        self._flagged: dict[int, str] = {}  # report record -> worst severity of its findings

    def add_chunk(self, source_id: int, lo: int, columns: Columns) -> None:
        los, chunks = self._chunks.setdefault(source_id, ([], []))
        at = bisect_left(los, lo)
        los.insert(at, lo)
        chunks.insert(at, columns)

    def finish(self, layout: Layout, columns: Columns, flagged: dict[int, str]) -> None:
        self._layout, self._columns, self._flagged = layout, columns, flagged
        self._chunks.clear()  # the report covers them all

    def clear(self) -> None:
        self.__init__()

    def at(self, key: tuple) -> Verdict:
        if self._layout is not None:
            k = self._layout.index(key)
            if k is None:
                return None, None  # a record changed since the report: not checked yet
            tokens = self._columns.tokens[k] if self._columns.kind[k] != INVALID else None
            return self._flagged.get(k, "ok"), tokens
        found = self._chunks.get(key[0])
        if found is None:
            return None, None
        los, chunks = found
        c = bisect_right(los, key[1]) - 1
        if c < 0 or key[1] - los[c] >= len(chunks[c]):
            return None, None
        columns, k = chunks[c], key[1] - los[c]
        problems = columns.problems.get(k)
        mark = ("error" if has_error(problems) else "warning") if problems else "ok"
        return mark, (columns.tokens[k] if columns.kind[k] != INVALID else None)


class ExampleList(ScrollView, can_focus=True, inherit_bindings=False):
    """One row per example: line, mark, roles, first user message, tokens; a cursor to move."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous example", id="examples.up", show=False),
        Binding("down", "cursor(1)", "Next example", id="examples.down", show=False),
        Binding("pageup", "page(-1)", "Page up", id="examples.page_up", show=False),
        Binding("pagedown", "page(1)", "Page down", id="examples.page_down", show=False),
        Binding("home", "first", "First example", id="examples.first", show=False),
        Binding("end", "last", "Last example", id="examples.last", show=False),
        Binding("g", "jump", "Go to line", id="examples.jump", show=False),
        Binding("enter", "choose", "Edit", id="examples.edit", tooltip="Edit the example under the cursor"),
    ]
    COMPONENT_CLASSES = {
        "example-list--header",
        "example-list--cursor",
        "example-list--lineno",
        "example-list--error",
        "example-list--warning",
        "example-list--ok",
        "example-list--roles",
        "example-list--stand-in",
        "example-list--tokens",
        "example-list--match",
    }
    DEFAULT_CSS = """
    ExampleList {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: hidden;  /* the rows draw the scroll bar: see `_bar` */
        background: $surface;
        & > .example-list--header { text-style: bold; background: $panel; color: $foreground; }
        & > .example-list--cursor { background: $block-cursor-blurred-background; }
        &:focus > .example-list--cursor { background: $block-cursor-background; }
        & > .example-list--lineno { color: $text-muted; }
        & > .example-list--error { color: $text-error; text-style: bold; }
        & > .example-list--warning { color: $text-warning; text-style: bold; }
        & > .example-list--ok { color: $text-success; }
        & > .example-list--roles { color: $text-accent; }
        & > .example-list--stand-in { color: $text-muted; text-style: italic; }
        & > .example-list--tokens { color: $text-muted; }
        & > .example-list--match { background: $warning 50%; }
    }
    """

    @dataclass
    class Chosen(Message):
        """Enter on a row: the user wants to edit this example."""

        record: int

    @dataclass
    class CursorMoved(Message):
        record: int | None

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: Rows | None = None
        self.view: Sequence[int] | None = None  # sorted record numbers shown, or None for all
        self.verdicts: Verdicts | None = None
        self.matches: Sequence[int] | None = None  # sorted record numbers that match the search
        self.highlight = ""  # search text to highlight, lower case
        self.cursor = 0  # position in the view
        self.entry: str | None = None  # the line number being typed after `g`
        self._generation = 0
        self._summaries: LRUCache[tuple, Summary] = LRUCache(2048)
        self._strips: LRUCache[tuple, Strip] = LRUCache(256)  # a few pages; each strip is ~20 objects for the GC
        self._styles: dict = {}
        self._cuts: LRUCache[tuple, tuple[str, int]] = LRUCache(1024)  # message cut to a width
        self._widths: tuple[tuple, tuple[int, int, int, int] | None] = ((), None)  # `_columns`, by width, rows and generation
        self._prefetch_from: tuple[int, int] | None = None

    # ------------------------------------------------------------- what is shown
    @property
    def count(self) -> int:
        if self.rows is None:
            return 0
        return len(self.view) if self.view is not None else len(self.rows)

    def record(self, position: int) -> int:
        return self.view[position] if self.view is not None else position

    @property
    def cursor_record(self) -> int | None:
        return self.record(self.cursor) if self.cursor < self.count else None

    def shows_any(self, source_id: int, lo: int, hi: int) -> bool:
        """Is any row on screen record lo..hi-1 of the source `source_id` (see `Rows.identity`)?"""
        top = self.scroll_offset.y
        return any(self._is(position, source_id, lo, hi) for position in range(top, min(self.count, top + self.page)))

    def cursor_in(self, source_id: int, lo: int, hi: int) -> bool:
        """Is the cursor's row record lo..hi-1 of the source `source_id`?"""
        return self.cursor < self.count and self._is(self.cursor, source_id, lo, hi)

    def _is(self, position: int, source_id: int, lo: int, hi: int) -> bool:
        key = self.rows.identity(self.record(position))
        return key[0] == source_id and lo <= key[1] < hi

    def set_rows(self, rows: Rows | None) -> None:
        """Show another source of rows (the streamed index, then the opened dataset)."""
        self.rows = rows
        self.changed()

    def set_view(self, view: Sequence[int] | None) -> None:
        """Show only these records (sorted), keeping the cursor on the same example when it is there."""
        keep = self.cursor_record
        self.view = view
        if keep is not None and view is not None:
            self.cursor = min(bisect_left(view, keep), max(0, len(view) - 1))
        elif keep is not None:
            self.cursor = keep
        self.changed()
        self._scroll_to_cursor(center=True)

    def changed(self) -> None:
        """The rows, their results or what is highlighted changed: draw everything again."""
        self.stale()
        self.cursor = max(0, min(self.cursor, self.count - 1))
        self.virtual_size = Size(0, self.count + 1)  # +1: the header row
        self.refresh()

    def stale(self) -> None:
        """Forget drawn rows; safe to call from any thread (the dataset's change callback)."""
        self._generation += 1

    def grown(self) -> None:
        """More rows exist at the end (the index is still streaming in); the ones drawn stay valid."""
        self.virtual_size = Size(0, self.count + 1)
        self.refresh()

    # ------------------------------------------------------------- moving
    @property
    def allow_vertical_scroll(self) -> bool:
        # Textual allows scrolling only where it draws a scroll bar; this list draws its own.
        return not self._check_disabled() and self.virtual_size.height > self.size.height

    @property
    def page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_to(self, position: int, *, center: bool = False) -> None:
        count = self.count
        old = self.cursor
        self.cursor = max(0, min(position, count - 1)) if count else 0
        if self._scroll_to_cursor(center=center):
            # The user is travelling: draw the next page that way while waiting for the next key.
            self._prefetch_from = (self.scroll_offset.y, 1 if self.cursor >= old else -1)
            self.call_after_refresh(self._prefetch)
        else:
            top = self.scroll_offset.y
            width = self.scrollable_content_region.width
            for row in {old, self.cursor}:
                if top <= row < top + self.page:
                    self.refresh(Region(0, 1 + row - top, width, 1))
        self.post_message(self.CursorMoved(self.cursor_record))

    def _prefetch(self) -> None:
        """Draw (into the cache) the page after the visible one, a few milliseconds at a time."""
        if self._prefetch_from is None or self.rows is None:
            return
        top, direction = self._prefetch_from
        if top != self.scroll_offset.y:
            return  # moved again since: that move scheduled its own
        page, width, base = self.page, self.scrollable_content_region.width, self._base()
        first = top + page if direction > 0 else top - page
        deadline = time.perf_counter() + 0.003
        bar = self._bar()  # drawn as track: the thumb's one row is drawn when it is shown
        for position in range(max(0, first), min(self.count, first + page)):
            if position != self.cursor:
                self._row(position, width, base, bar)
            if time.perf_counter() > deadline:
                self.call_later(self._prefetch)  # after any key already waiting
                return
        self._prefetch_from = None

    def go_to_record(self, record: int) -> None:
        """Put the cursor on this example (or the nearest shown one), in the middle of the list."""
        position = record if self.view is None else min(bisect_left(self.view, record), max(0, len(self.view) - 1))
        self.move_to(position, center=True)

    def go_to_line(self, line: int) -> bool:
        if self.rows is None or not len(self.rows):
            return False
        record = self.rows.record_at_line(max(1, line))
        self.go_to_record(record if record is not None else len(self.rows) - 1)
        return True

    def _scroll_to_cursor(self, center: bool = False) -> bool:
        """Scroll so the cursor row is visible; True when the list scrolled (and so repaints)."""
        page, top = self.page, self.scroll_offset.y
        if center and not top <= self.cursor < top + page:
            top = self.cursor - page // 2
        elif self.cursor < top:
            top = self.cursor
        elif self.cursor >= top + page:
            top = self.cursor - page + 1
        top = max(0, min(top, self.count - page))
        if top == self.scroll_offset.y:
            return False
        self.scroll_to(y=top, animate=False, immediate=True)
        return True

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * self.page)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(self.count - 1)

    def action_choose(self) -> None:
        if self.cursor_record is not None:
            self.post_message(self.Chosen(self.cursor_record))

    def action_jump(self) -> None:
        # The number is typed into the header row: a modal screen or an input box would make
        # the whole screen lay out and repaint twice, and jumping must be as quick as any key.
        if self.rows is not None and len(self.rows):
            self.entry = ""
            self._refresh_header()

    def on_key(self, event: events.Key) -> None:
        """While a line number is being typed, digits, Backspace, Enter and Esc are for it."""
        if self.entry is None:
            return
        event.stop()
        event.prevent_default()  # (1, 2, 3 switch sections otherwise)
        if event.key == "enter":
            line, self.entry = self.entry, None
            self._refresh_header()
            if line:
                self.go_to_line(int(line))
        elif event.key == "escape":
            self.entry = None
            self._refresh_header()
        elif event.key == "backspace":
            self.entry = self.entry[:-1]
            self._refresh_header()
        elif event.character and event.character.isdigit() and len(self.entry) < 12:
            self.entry += event.character
            self._refresh_header()

    def _refresh_header(self) -> None:
        self.refresh(Region(0, 0, self.size.width, 1))

    def on_click(self, event: events.Click) -> None:
        bar_width, _, _ = self._bar()
        if bar_width and event.x >= self.size.width - bar_width:
            # On the scroll bar: go to that far through the list.
            share = event.y / max(1, self.size.height - 1)
            self.move_to(round(share * (self.count - 1)), center=True)
        elif event.y >= 1:
            self.move_to(self.scroll_offset.y + event.y - 1)

    def on_focus(self) -> None:
        self._styles.clear()  # the cursor's colour depends on focus
        self.stale()
        self.refresh()

    def on_blur(self) -> None:
        self.entry = None  # a half-typed line number is dropped, not acted on later
        self._styles.clear()
        self.stale()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self.stale()

    # ------------------------------------------------------------- drawing
    def _base(self) -> Style:
        """The widget's own style; computing it walks every ancestor, so once per style change."""
        style = self._styles.get(None)
        if style is None:
            style = self._styles[None] = self.rich_style
        return style

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = component_style(self, f"example-list--{name}")
        return style

    def _columns(self, width: int) -> tuple[int, int, int, int]:
        """Widths of (line number, roles, message, tokens) for a list `width` cells wide."""
        count = len(self.rows) if self.rows is not None else 0
        key = (width, count, self._generation)
        if self._widths[0] != key:
            self._widths = (key, self._measure_columns(width, count))
        return self._widths[1]

    def _measure_columns(self, width: int, count: int) -> tuple[int, int, int, int]:
        last = self.rows.lineno(count - 1) if count else 1
        line_w = max(4, len(str(last)))
        roles_w = 9 if width >= 48 else 5
        tokens_w = 7 if width >= 40 else 0
        text_w = max(0, width - line_w - 3 - roles_w - 1 - tokens_w)
        return line_w, roles_w, text_w, tokens_w

    def _bar(self) -> tuple[int, int, int]:
        """The scroll bar: (its width, its thumb's first screen row, the row after the thumb).

        Width 0 when every row fits. Whole cells only: at a million rows the thumb is one cell.
        """
        height, total = self.size.height, self.count + 1  # +1: the header row
        if total <= height or height < 2:
            return 0, 0, 0
        thumb = max(1, round(height * height / total))
        first = round((height - thumb) * self.scroll_offset.y / max(1, total - height))
        return self.styles.scrollbar_size_vertical, first, first + thumb

    def _bar_segment(self, y: int, bar: tuple[int, int, int]) -> list[Segment]:
        """The scroll bar's cells on screen row `y`, in the colours Textual's own bar would use."""
        width, first, end = bar
        if not width:
            return []
        name = "bar-thumb" if first <= y < end else "bar-track"
        style = self._styles.get(name)
        if style is None:
            styles = self.styles
            back = styles.scrollbar_background
            if back.a < 1:
                back = self.background_colors[0] + back
            color = back + styles.scrollbar_color
            self._styles["bar-track"] = Style(bgcolor=back.rich_color)
            self._styles["bar-thumb"] = Style(color=color.rich_color, bgcolor=back.rich_color, reverse=True)
            style = self._styles[name]
        return [Segment(" " * width, style)]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._base()
        bar = self._bar()
        if y == 0:
            return self._header(width, base, bar)
        position = self.scroll_offset.y + y - 1
        if position >= self.count:
            return self._blank_row(width, base, bar, y)
        try:
            return self._row(position, width, base, bar, y)
        except IndexError:  # the document shrank since this frame began; the next one is right
            return self._blank_row(width, base, bar, y)

    def _blank_row(self, width: int, base: Style, bar: tuple[int, int, int], y: int) -> Strip:
        return Strip([Segment(" " * (width - bar[0]), base), *self._bar_segment(y, bar)], width)

    def _header(self, width: int, base: Style, bar: tuple[int, int, int]) -> Strip:
        scroll = self._bar_segment(0, bar)
        width -= bar[0]
        line_w, roles_w, text_w, tokens_w = self._columns(width)
        text = Text(style=base + self._style("header"), no_wrap=True, end="")
        if self.entry is not None:
            last = self.rows.lineno(len(self.rows) - 1) if self.rows is not None and len(self.rows) else 0
            text.append(" go to line: ")
            text.append(f"{self.entry}▏", self._style("match"))
            text.append(f"   (1–{last:,}; Enter to go, Esc to stay)")
        else:
            text.append(f"{'line':>{line_w}}   {'roles':<{roles_w}} ")
            text.append(f"{'first user message':<{text_w}}"[:text_w])
            if tokens_w:
                text.append(f"{'tokens':>{tokens_w}}")
        return Strip([*text_strip(text, width, self.app.console), *scroll], width + bar[0])

    def _row(self, position: int, width: int, base: Style, bar: tuple[int, int, int], y: int = -1) -> Strip:
        """Row `position` drawn `width` cells wide, ending in the scroll bar's cells of screen row
        `y` (the track's, for a row drawn ahead of being shown)."""
        rows = self.rows
        record = self.record(position)
        on_cursor = position == self.cursor
        scroll = self._bar_segment(y, bar)
        total_width, width = width, width - bar[0]
        columns = self._columns(width)
        identity = rows.identity(record)
        mark, tokens = self.verdicts.at(identity) if self.verdicts is not None else (None, None)
        # The verdict is part of the key: results arriving for other rows leave these drawn.
        key = (record, on_cursor, self.has_focus, columns, self._generation, scroll[0].style if scroll else None, mark, tokens)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        summary = self._summaries.get(identity)
        if summary is None:
            summary = self._summaries[identity] = summarize(rows[record])
        line_w, roles_w, text_w, tokens_w = columns
        row = base + self._style("cursor") if on_cursor else base
        on = partial(self._on, row)  # a column's style over the row's
        matched = self.matches is not None and _contains(self.matches, record)
        roles = summary.roles if len(summary.roles) <= roles_w else summary.roles[: roles_w - 1] + "…"
        # Segments straight away, not a rich Text: a page of new rows must draw in a few ms.
        segments = [
            Segment(f"{rows.lineno(record):>{line_w}}", on("match" if matched else "lineno")),
            Segment(" ", row),
            Segment(MARKS[mark], on(mark) if mark else row),
            Segment(" ", row),
            Segment(f"{roles:<{roles_w}} ", on("roles")),
            *self._message(identity, summary, text_w, on("stand-in") if summary.stand_in else row, on("match")),
        ]
        if tokens_w:
            segments.append(Segment(f"{tokens:>{tokens_w},}" if tokens else " " * tokens_w, on("tokens")))
        used = line_w + 3 + roles_w + 1 + text_w + tokens_w
        if used < width:
            segments.append(Segment(" " * (width - used), row))
        if used > width:
            segments = list(Strip(segments).crop(0, width))
        strip = Strip(segments + scroll, total_width)
        self._strips[key] = strip
        return strip

    def _on(self, row: Style, name: str) -> Style:
        key = (row, name)
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = row + self._style(name)
        return style

    def _message(self, identity: tuple, summary: Summary, width: int, style: Style, match: Style) -> list[Segment]:
        """The message column: `width` cells, cut with an ellipsis, search matches marked."""
        cut = self._cuts.get((identity, width))
        if cut is None:
            # Every character takes at least one cell, so cut to the width before measuring
            # cells (measuring non-ASCII text is the slowest step of drawing a row).
            shown = summary.text[: width + 1]
            cells = len(shown) if shown.isascii() else cell_len(shown)
            if cells > width:
                shown = (shown[: width - 1] if shown.isascii() else set_cell_size(shown, width - 1)) + "…"
                cells = width
            cut = self._cuts[(identity, width)] = (shown, cells)
        shown, cells = cut
        spans = [(0, len(shown), style)]
        lowered = shown.lower()
        if self.highlight and len(lowered) == len(shown):  # (lower() can lengthen a few letters)
            spans, start = [], 0
            while (found := lowered.find(self.highlight, start)) >= 0:
                spans += [(start, found, style), (found, found + len(self.highlight), match)]
                start = found + len(self.highlight)
            spans.append((start, len(shown), style))
        segments = [Segment(shown[a:b], s) for a, b, s in spans if b > a]
        segments.append(Segment(" " * (width - cells), style))
        return segments


def text_strip(text: Text, width: int, console) -> Strip:
    """One line of `text`, exactly `width` cells, its own style under every part of it.

    (`Text.render` leaves the text's base style to the caller.)
    """
    base = text.style if isinstance(text.style, Style) else Style.null()
    return Strip(text.render(console)).apply_style(base).crop_extend(0, width, base)


def component_style(widget, name: str) -> Style:
    """A component class's own style, its background blended over the widget's.

    (The partial style Textual gives keeps a translucent background such as `$primary 30%` as
    the full colour, so it is taken from the blended style.)
    """
    own = widget.get_component_rich_style(name, partial=True)
    if own.bgcolor is None:
        return own
    return own + Style(bgcolor=widget.get_component_rich_style(name).bgcolor)


def _contains(ordered: Sequence[int], value: int) -> bool:
    at = bisect_left(ordered, value)
    return at < len(ordered) and ordered[at] == value
