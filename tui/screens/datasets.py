"""The Datasets section's first screen: a folder of JSONL files, or one file's browser."""

from __future__ import annotations

from pathlib import Path

from textual.screen import Screen


def datasets_screen(path: Path) -> Screen:
    if path.is_dir():
        from tui.screens.folder import FolderScreen

        return FolderScreen(path)
    from tui.screens.browser import BrowserScreen

    return BrowserScreen(path)
