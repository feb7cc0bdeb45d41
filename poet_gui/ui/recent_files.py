"""File ▸ Open recent: the last files opened or saved (graphs, plans, workspaces), kept in QSettings.

The list lives in the settings rather than in the window, so every window and every later run sees
the same list; the menu is rebuilt from it each time it opens.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtWidgets import QMenu, QWidget

#: The settings key of the list, most recent first.
SETTINGS_KEY = "files/recent"
#: At most this many files are remembered.
MAX_RECENT = 10


def recent_paths() -> list[Path]:
    """The remembered files, most recent first (files that no longer exist are listed too: a
    removable drive may simply not be mounted)."""
    value = QSettings().value(SETTINGS_KEY, [])
    if isinstance(value, str):  # QSettings gives back a one-item list as a plain string
        value = [value]
    return [Path(p) for p in value if isinstance(p, str) and p]


def remember(path: Path) -> None:
    """Put ``path`` (made absolute) at the top of the list."""
    path = Path(path).resolve()
    paths = [path, *(p for p in recent_paths() if p != path)][:MAX_RECENT]
    QSettings().setValue(SETTINGS_KEY, [str(p) for p in paths])


def forget(path: Path) -> None:
    """Drop ``path`` from the list (it could not be opened any more)."""
    path = Path(path).resolve()
    QSettings().setValue(SETTINGS_KEY, [str(p) for p in recent_paths() if p != path])


class RecentFilesMenu(QMenu):
    """Lists :func:`recent_paths`, numbered for keyboard access; emits :attr:`path_chosen`."""

    path_chosen = Signal(object)  # Path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Open &recent", parent)
        self.setToolTipsVisible(True)
        self.aboutToShow.connect(self._on_aboutToShow)
        self._on_aboutToShow()

    @Slot()
    def _on_aboutToShow(self) -> None:
        self.clear()
        paths = recent_paths()
        for k, path in enumerate(paths, start=1):
            action = self.addAction(f"&{k % 10} {path.name}")  # 1-9, then 0: MAX_RECENT is 10
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.path_chosen.emit(p))
        if not paths:
            self.addAction("No recent files").setEnabled(False)
            return
        self.addSeparator()
        self.addAction("Clear list").triggered.connect(self._on_clear_triggered)

    @Slot()
    def _on_clear_triggered(self) -> None:
        QSettings().setValue(SETTINGS_KEY, [])
        self._on_aboutToShow()
