"""Simulated time for the lab, so slow Exchange operations can run fast in tests.

A service stop that takes 95 simulated seconds sleeps ``95 / speed`` real seconds. Tests raise
``speed`` (or use :class:`ManualClock`, which never sleeps) so the same behaviour, with the
same warnings, takes milliseconds.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Simulated time running ``speed`` times faster than real time.

    Args:
        speed: Simulated seconds per real second; 1.0 is real time.
        start: Simulated wall-clock time at creation; defaults to now (UTC).
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, found {speed}")
        self.speed = speed
        self._lock = threading.Lock()
        self._start = start or datetime.now(UTC)
        self._real_start = time.monotonic()

    def monotonic(self) -> float:
        """Return simulated seconds since the clock was created."""
        with self._lock:
            return (time.monotonic() - self._real_start) * self.speed

    def now(self) -> datetime:
        """Return the simulated wall-clock time in UTC."""
        return self._start + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass."""
        if seconds > 0:
            time.sleep(seconds / self.speed)


class ManualClock(Clock):
    """A clock that advances only when something sleeps on it; sleeping returns at once."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(speed=1.0, start=start)
        self._elapsed = 0.0

    def monotonic(self) -> float:
        """Return simulated seconds slept so far."""
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        """Advance simulated time by ``seconds`` without waiting."""
        if seconds > 0:
            with self._lock:
                self._elapsed += seconds
