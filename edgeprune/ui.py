"""Rich output for the CLI: the progress reporter and table helpers. Nothing here computes anything."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

# Rich assumes 80 columns when output is not a terminal; tables of figures need more in logs and CI.
console = Console(stderr=False, width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)


class RichReporter:
    """Draws a progress bar for each task; log lines print above it."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task = None

    def task(self, description: str, total: int | None) -> None:
        self.done()
        if self.quiet:
            return
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def log(self, message: str) -> None:
        """Library messages are plain text: names in them (files, classes, layers) are never read as markup."""
        if self.quiet:
            return
        (self._progress.console if self._progress else err_console).print(message, highlight=False, markup=False)

    def done(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
    t = Table(title=escape(title), title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(escape(c), justify="left" if i == 0 else "right")
    for r in rows:  # cells hold names from files (classes, layers, paths): never markup
        t.add_row(*["" if v is None else escape(str(v)) for v in r])
    return t


def pct(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def kb(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1024:.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"
