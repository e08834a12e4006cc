"""Command-line interface; :func:`main` is the ``exchange-agent`` console script."""

from exchange_agent.cli.main import cli, main

__all__ = ["cli", "main"]
