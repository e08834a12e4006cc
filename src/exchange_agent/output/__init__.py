"""Reports (console and JSON), structured logging and exit codes."""

from exchange_agent.output.console import print_report
from exchange_agent.output.exitcodes import ExitCode, exit_code
from exchange_agent.output.logging import configure_logging

__all__ = ["ExitCode", "configure_logging", "exit_code", "print_report"]
