"""Structured logs on stderr: console lines on a terminal, JSON elsewhere."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from exchange_agent.remote.psrp import quiet_transport_loggers

LogFormat = Literal["console", "json"]

_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def configure_logging(verbosity: int = 0, log_format: LogFormat | None = None) -> None:
    """Set up structlog for the CLI.

    ``-v`` shows one line per task, ``-vv`` debug details (including rendered commands),
    ``-vvvv`` also the transport libraries' own logs, which contain raw protocol messages.
    """
    level = _LEVELS.get(verbosity, logging.DEBUG)
    chosen = log_format or ("console" if sys.stderr.isatty() else "json")
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if chosen == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # The transport libraries log through the standard library; render their records like the
    # rest, on the stderr of this call.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    quiet_transport_loggers(debug=verbosity >= 4, handler=handler)
