"""The TuneDeck application: sections, the profile header, help, and quitting safely.

Built by `make_app()` so tests inject the profile, the clock and the path; nothing here reads
the user's environment by itself.
"""

from __future__ import annotations

import gc
import importlib
import os
import logging
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from core.clock import SYSTEM, Clock
from core.dataset import Dataset
from core.service.profiles import Active
from tui.screens.help import HelpScreen, ours
from tui.screens.quit import QuitScreen
from tui.widgets.profile_bar import ProfileBar

log = logging.getLogger("tunedeck")


def shown(path: Path) -> str:
    """A path as a person wants to read it: relative to where they started, when it is below."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


SECTION_TITLES = {"datasets": "Datasets", "jobs": "Jobs", "playground": "Playground"}


class TuneDeckApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "TuneDeck"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("1", "section('datasets')", "Datasets", id="app.datasets", show=False),
        Binding("2", "section('jobs')", "Jobs", id="app.jobs", show=False),
        Binding("3", "section('playground')", "Playground", id="app.playground", show=False),
        Binding("P", "profiles", "Profiles", id="app.profiles", show=False),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(self, path: Path, *, active: Active, clock: Clock = SYSTEM, watch_interval: float | None = None) -> None:
        super().__init__()
        self.path = path
        self.active = active
        self.clock = clock
        self.documents: dict[Path, Dataset] = {}  # every dataset opened in this session, by path
        self.add_mode("datasets", self._datasets_screen)
        self.add_mode("jobs", self._jobs_screen)
        self.add_mode("playground", self._playground_screen)
        self.playground_model: str | None = None  # handed over by "open in Playground"
        self.browsed: Path | None = None  # the dataset last shown in the browser
        self._jobs_feed = None
        self.watch_interval = watch_interval  # seconds between two polls of a job (tests go faster)

    @property
    def jobs_feed(self):
        """The live jobs of the active profile (core.service through tui.jobs_feed), made on first use."""
        if self._jobs_feed is None:
            from core.service import watch
            from tui.jobs_feed import JobsFeed

            self._jobs_feed = JobsFeed(self, self.active, interval=self.watch_interval or watch.INTERVAL, rate=watch.RATE if not self.watch_interval else 1000.0)
        return self._jobs_feed

    @property
    def jobs_feed_if_started(self):
        """The jobs feed when something has started it, else None (looking must not connect)."""
        return self._jobs_feed

    def _jobs_screen(self) -> Screen:
        from tui.screens.jobs import JobsScreen

        return JobsScreen()

    def _playground_screen(self) -> Screen:
        from tui.screens.playground import PlaygroundScreen

        return PlaygroundScreen()

    def _datasets_screen(self) -> Screen:
        from tui.screens.datasets import datasets_screen

        return datasets_screen(self.path)

    def on_mount(self) -> None:
        from tui.screens.browser import start_process_helpers

        # Workers that validate big files start processes; they must inherit a real stderr.
        start_process_helpers()
        # What start-up created lives as long as the app: keep the collector from walking it
        # again and again (its full passes were the 100–180 ms worst cases between keys).
        gc.freeze()
        self.switch_mode("datasets")
        # A job left running last time is watched from the start, so its end is announced
        # wherever the user is (after the first screen is drawn: the SDK takes a moment to load).
        self.set_timer(1.0, self._watch_remembered_jobs)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A background task failed in a way its screen did not expect: said and logged, never
        silent (its screen's own `finally` puts the screen back in order)."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            log.error("background task %r failed", event.worker.name, exc_info=error)
            self.notify(f"{event.worker.name or 'A background task'}: {error}", title="Something went wrong", severity="error", timeout=10, markup=False)

    @work(thread=True, exit_on_error=False, group="remembered-jobs")
    def _watch_remembered_jobs(self) -> None:
        # In a thread: reading local state, and importing the SDK when a job needs watching,
        # would otherwise hold the screen for a second. Nothing here may stop the app.
        from core.service.limits import TERMINAL
        from core.service.local_state import LocalState

        try:
            with LocalState() as state:
                running = [r for r in state.jobs(self.active.profile.identity) if r.status not in TERMINAL]
            if running:
                importlib.import_module("tui.jobs_feed")  # the SDK loads here, off the event loop
        except Exception:
            log.exception("could not read the jobs left running")
            return
        if running:
            self.call_from_thread(lambda: self.jobs_feed.start())

    # documents

    def document(self, path: Path) -> Dataset:
        """The one open Dataset for `path` (opened on first use; shared by browser and editor)."""
        from core.dataset import open_dataset

        key = path.resolve()
        if key not in self.documents:
            self.documents[key] = open_dataset(key)
        return self.documents[key]

    def current_dataset(self) -> Path | None:
        """The dataset the user is working on: the last one shown in the browser, else the file
        TuneDeck was started on. (Not merely the last opened: replaying from an evaluation opens
        the validation split, which must not become where examples are saved.)"""
        if self.browsed is not None:
            return self.browsed
        return self.path if self.path.is_file() else None

    def add_example(self, path: Path, example: dict) -> str:
        """Append `example` to the dataset at `path` (any thread), as an edit of its document —
        undoable like any other. Saved at once unless the document holds other unsaved edits,
        which are the user's to save. A missing file is created. Says what happened."""
        from core.dataset.writing import atomic_write

        path = path.resolve()
        if not path.exists():
            fd, _ = atomic_write(path, lambda fd: None)  # an empty dataset, created whole or not at all
            os.close(fd)
        ds = self.document(path)
        had_edits = ds.dirty
        ds.append(example)
        where = f"{shown(path)} line {ds.lineno(len(ds) - 1)}"
        if had_edits:
            return f"Added to {where}; the file has other unsaved edits: save it from the Datasets section."
        try:
            ds.save()
        except Exception:
            ds.undo()  # not saved: the document is left as it was, so a retry does not add it twice
            raise
        return f"Saved to {where}."

    def open_dataset_line(self, path: Path, line: int) -> None:
        """Show `line` of the dataset at `path` in the editor (a failed job names it)."""
        from tui.screens.browser import BrowserScreen

        self.switch_mode("datasets")
        self.push_screen(BrowserScreen(path, open_line=line))

    async def use_profile(self, active: Active) -> None:
        """Talk to another server from now on, without a restart. The Jobs section starts over
        on the new profile: its feed and screens belonged to the old one."""
        changed = active.profile.identity != self.active.profile.identity
        self.active = active
        if changed:
            if self._jobs_feed is not None:
                self._jobs_feed.stop()
                self._jobs_feed = None
            if self.current_mode == "jobs":
                await self.switch_mode("datasets")
            if "jobs" in self._screen_stacks:
                await self.remove_mode("jobs")
                self.add_mode("jobs", self._jobs_screen)
        for stack in self._screen_stacks.values():  # every screen's header names the profile
            for screen in stack:
                for bar in screen.query(ProfileBar):
                    bar.refresh()
        self.notify(f"Now using profile {active.profile.name}.", title="Profile", markup=False)

    def show_job(self, job, record, active: Active) -> None:
        """A job just launched: its live view in the Jobs section (when it is on the active profile)."""
        if active.profile.identity != self.active.profile.identity:
            self.notify(
                f"Job {job.id} runs on profile {active.profile.name}; the Jobs section shows profile {self.active.profile.name}. "
                f"Start TuneDeck with --profile {active.profile.name} to watch it.",
                timeout=15,
                markup=False,
            )
            return
        from tui.screens.job import JobScreen

        self.jobs_feed.track(job, record)
        self.switch_mode("jobs")
        self.push_screen(JobScreen(job.id))

    def open_in_playground(self, model: str) -> None:
        self.playground_model = model
        self.switch_mode("playground")

    async def replay_in_playground(self, path: Path, line: int, models: list[str] | None = None) -> None:
        """Replay the example on `line` of `path` in the Playground (the browser's and the
        evaluation's `p`/`r`): with `models`, else with the Playground's own."""
        from tui.screens.playground import PlaygroundScreen

        if self.current_mode != "playground":
            await self.switch_mode("playground")
        while not isinstance(self.screen, PlaygroundScreen):
            await self.pop_screen()
        if models:
            self.screen.models = list(models)
            self.playground_model = models[0]  # chosen here, not a model handed over later
        await self.screen.replay(path, line)

    def unsaved(self) -> list[Dataset]:
        return [ds for ds in self.documents.values() if ds.dirty]

    # actions

    def action_section(self, name: str) -> None:
        self.switch_mode(name)

    def action_profiles(self) -> None:
        from tui.screens.profiles import ProfilesScreen

        if not isinstance(self.screen, ProfilesScreen):
            self.push_screen(ProfilesScreen())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        unsaved = self.unsaved()
        if not unsaved:
            self.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice == "save":
                for ds in unsaved:
                    try:
                        ds.save()
                    except Exception as exc:  # keep the app open: nothing may be lost silently
                        self.notify(f"{ds.path.name}: {getattr(exc, 'title', exc)}", title="Not saved", severity="error", markup=False)
                        return
                self.exit()
            elif choice == "discard":
                self.exit()

        self.push_screen(QuitScreen([shown(ds.path) for ds in unsaved]), chosen)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for name, title in SECTION_TITLES.items():
            yield SystemCommand(f"Go to {title}", f"switch to the {title} section", lambda n=name: self.action_section(n))
        yield SystemCommand("Profiles: connection profiles", "create, edit, test and delete server profiles", self.action_profiles)
        yield SystemCommand("Help: keys", "every key of this screen and the global ones", self.action_help)
        # Every key of the screen is also a command, so nothing is reachable by key alone.
        listed: set[str] = set()
        for active in screen.active_bindings.values():
            binding, node = active.binding, active.node
            if node is self or not binding.description or binding.action in listed or not (binding.show or ours(node, binding)):
                continue
            listed.add(binding.action)
            keys = ", ".join(self.get_key_display(Binding(k.strip(), "")) for k in binding.key.split(","))
            yield SystemCommand(binding.description, f"{binding.tooltip or binding.description} ({keys})", partial(self.run_action, binding.action, node))
        yield SystemCommand("Quit", "leave TuneDeck (asks first when there are unsaved edits)", self.action_quit)
        yield from super().get_system_commands(screen)


def make_app(path: Path | None = None, *, active: Active | None = None, clock: Clock = SYSTEM, watch_interval: float | None = None) -> TuneDeckApp:
    from core.service.profiles import resolve

    return TuneDeckApp(path if path is not None else Path.cwd(), active=active or resolve(), clock=clock, watch_interval=watch_interval)
