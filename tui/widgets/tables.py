"""What every screen built on a DataTable asks of it."""

from __future__ import annotations

from textual.widgets import DataTable


def highlighted_key(table: DataTable) -> str | None:
    """The key of the highlighted row, or None when there is none (an empty table, a cursor off
    the rows)."""
    if not table.row_count:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # CellDoesNotExist: the cursor is off the rows
        return None
