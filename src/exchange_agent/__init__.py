"""Idempotent, agentless management of on-premises Microsoft Exchange over PowerShell remoting."""

__version__ = "0.1.0"
