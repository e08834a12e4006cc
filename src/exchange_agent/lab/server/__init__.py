"""The lab's WinRM / PowerShell remoting server on 127.0.0.1 (see :class:`LabServer`)."""

from exchange_agent.lab.server._knobs import Knobs
from exchange_agent.lab.server._server import MAX_SHELLS_PER_USER, LabServer

__all__ = ["MAX_SHELLS_PER_USER", "Knobs", "LabServer"]
