"""Exit codes, in one table, and how a run's outcome maps onto them."""

from __future__ import annotations

from enum import IntEnum

from exchange_agent.runner.results import RunReport


class ExitCode(IntEnum):
    """Process exit codes of ``exchange-agent``.

    With ``--detailed-exitcode`` a run uses Terraform's meaning for scheduled drift checks:
    0 nothing to change, 1 an error, 2 changes present (or pending in check mode).
    """

    OK = 0
    ERROR = 1
    TASK_FAILED = 2
    UNREACHABLE = 4
    INVALID_INPUT = 5
    INTERRUPTED = 130


DRIFT = 2


def exit_code(report: RunReport, *, detailed: bool = False) -> int:
    """Return the exit code for a finished run; unreachable wins over a failed task."""
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if detailed:
        if report.unreachable or report.failed:
            return ExitCode.ERROR
        return DRIFT if report.changed else ExitCode.OK
    if report.unreachable:
        return ExitCode.UNREACHABLE
    if report.failed:
        return ExitCode.TASK_FAILED
    return ExitCode.OK
