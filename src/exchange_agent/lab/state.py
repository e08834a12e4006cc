"""Load a lab organization from a seed file and persist it between runs.

A seed is a YAML mapping with the fields of :class:`~exchange_agent.lab.org.Organization`
(see ``seeds/default.yml``). A state file is the JSON form of an organization, written
atomically after a run so the next run (another CLI process) reads its changes.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from exchange_agent.errors import ConfigError, SourceLocation
from exchange_agent.lab.org import BEFORE_SAVE, Organization, from_dict, to_dict

__all__ = [
    "StateLock",
    "default_seed",
    "default_state_file",
    "load_seed",
    "open_lab",
    "save",
    "state_dir",
]

_STATE_VERSION = 1


def state_dir() -> Path:
    """Return the lab state directory.

    It is ``$EXCHANGE_AGENT_STATE_DIR`` if set, else ``$XDG_STATE_HOME/exchange-agent``, else
    ``~/.local/state/exchange-agent`` (the XDG Base Directory default for state data).
    """
    explicit = os.environ.get("EXCHANGE_AGENT_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "exchange-agent"


def default_state_file() -> Path:
    """Return the state file the CLI uses when none is given: ``<state dir>/lab-state.json``."""
    return state_dir() / "lab-state.json"


def default_seed() -> Path:
    """Return the path of the packaged default seed, ``seeds/default.yml``."""
    return Path(str(resources.files("exchange_agent.lab") / "seeds" / "default.yml"))


def load_seed(path: Path) -> Organization:
    """Build an organization from a YAML seed file.

    Raises:
        ConfigError: The file cannot be read, is not valid YAML, or has unknown keys or
            values of the wrong type. The message names the file and the key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read lab seed: {error.strerror}", _where(path)) from error
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        location = _where(path, mark.line + 1, mark.column + 1) if mark else _where(path)
        raise ConfigError(f"invalid YAML in lab seed: {error}", location) from error
    return _organization(data, path)


def open_lab(seed: Path | None = None, state_file: Path | None = None) -> Organization:
    """Return the organization a run should use.

    Args:
        seed: Seed file used when there is no state yet; the packaged default when None.
        state_file: State saved by an earlier run; loaded when it exists. With None nothing
            persists, and the organization always starts from ``seed``. The CLI passes
            :func:`default_state_file`.

    Raises:
        ConfigError: The seed or the state file is unreadable or invalid.
    """
    if state_file is not None and state_file.exists():
        try:
            document = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"cannot read lab state: {error}; delete the file to start again from the seed",
                _where(state_file),
            ) from error
        if not isinstance(document, dict) or document.get("version") != _STATE_VERSION:
            raise ConfigError(
                f"lab state has an unknown format (expected version {_STATE_VERSION}); delete "
                "the file to start again from the seed",
                _where(state_file),
            )
        return _organization(document.get("organization"), state_file)
    return load_seed(seed or default_seed())


def save(org: Organization, path: Path) -> None:
    """Write ``org`` to ``path`` atomically (temporary file in the same directory, then rename).

    A reader never sees a half-written file, and a crash leaves the previous state in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for hook in BEFORE_SAVE:
        hook(org)
    document = {"version": _STATE_VERSION, "organization": to_dict(org)}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _organization(data: Any, path: Path) -> Organization:
    try:
        return from_dict(data)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"invalid lab organization: {error}", _where(path)) from error


def _where(path: Path, line: int | None = None, column: int | None = None) -> SourceLocation:
    return SourceLocation(str(path), line, column)


class StateLock:
    """An exclusive lock on a lab state file, held while a process has the organization loaded.

    A lab loads the state when it starts and writes it back when it stops, so two labs on one
    file would each overwrite the other's changes. The lock lives in ``<state>.lock``, which
    names the process that holds it.
    """

    def __init__(self, state_file: Path, owner: str = "exchange-agent") -> None:
        self.path = state_file.with_name(state_file.name + ".lock")
        self.owner = owner
        self._handle: Any = None

    def acquire(self) -> None:
        """Take the lock, or fail at once.

        Raises:
            ConfigError: Another process has the state loaded; the message names it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            state = self.path.with_suffix("")
            raise ConfigError(
                f"the lab state {state} is in use by {holder}; stop that process first, or "
                "give this one its own state (EXCHANGE_AGENT_STATE_DIR, or state: in the "
                "inventory's lab settings)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({self.owner})\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Release the lock; the lock file stays, empty."""
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
