"""Handlers that were notified but did not run, kept for the next run.

A run that changes a connector and then fails before the transport restart would otherwise
leave the change inactive: the next run finds the connector correct, reports ok, and never
restarts. The runner records such handlers per inventory and host and runs them next time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


class PendingHandlers:
    """A small JSON file per inventory and host under the state directory."""

    def __init__(self, directory: Path, inventory_path: str) -> None:
        digest = hashlib.sha256(os.path.abspath(inventory_path).encode()).hexdigest()[:12]
        self.directory = directory / "pending-handlers" / digest

    def _file(self, host: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in host)
        return self.directory / f"{safe}.json"

    def load(self, host: str) -> list[str]:
        """Return the handler names pending for ``host``."""
        try:
            data = json.loads(self._file(host).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [str(name) for name in data.get("handlers", [])]

    def save(self, host: str, handlers: list[str]) -> None:
        """Record ``handlers`` as pending for ``host``."""
        if not handlers:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._file(host)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"handlers": handlers}), encoding="utf-8")
        temporary.replace(path)

    def clear(self, host: str) -> None:
        """Forget the pending handlers of ``host``."""
        self._file(host).unlink(missing_ok=True)
