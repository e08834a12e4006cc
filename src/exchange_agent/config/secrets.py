"""Secret references: where a password comes from, never the password itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from exchange_agent.errors import ConfigError


class SecretRef(BaseModel):
    """A reference to a secret: an environment variable, a file or a helper command.

    ``{env: NAME}`` reads ``$NAME``, or the file named by ``$NAME_FILE`` when ``$NAME`` is
    unset. ``{file: PATH}`` reads the file. ``{command: [prog, arg]}`` runs a helper and reads
    its standard output. Trailing newlines are dropped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None
    command: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [name for name in ("env", "file", "command") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of env, file or command")
        return self

    def describe(self) -> str:
        """Say where the secret comes from, without its value."""
        if self.env is not None:
            return f"environment variable {self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return f"helper command {self.command[0] if self.command else ''}"

    def resolve(self) -> SecretStr:
        """Read the secret.

        Raises:
            ConfigError: The variable is unset, the file unreadable or the helper failed.
        """
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                file_name = os.environ.get(f"{self.env}_FILE")
                if file_name:
                    return _read_file(Path(file_name), f"{self.env}_FILE")
                raise ConfigError(
                    f"environment variable {self.env} is not set (nor {self.env}_FILE); "
                    "export it before the run"
                )
            return SecretStr(value)
        if self.file is not None:
            return _read_file(self.file, "file")
        assert self.command is not None
        try:
            completed = subprocess.run(  # noqa: S603  (argument list, no shell)
                list(self.command), capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ConfigError(f"secret helper {self.command[0]} failed: {error}") from None
        if completed.returncode != 0:
            raise ConfigError(
                f"secret helper {self.command[0]} exited with status {completed.returncode}"
            )
        return SecretStr(completed.stdout.rstrip("\r\n"))


def _read_file(path: Path, what: str) -> SecretStr:
    try:
        return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))
    except OSError as error:
        raise ConfigError(f"cannot read secret {what} {path}: {error.strerror}") from None
