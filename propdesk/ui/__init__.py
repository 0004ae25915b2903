"""PySide6 / pyqtgraph console: draws runtime state, sends commands."""
