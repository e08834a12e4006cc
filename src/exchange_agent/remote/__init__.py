"""Talking to Exchange: cmdlet values, sessions, and conversion of what comes back."""

from exchange_agent.remote.command import (
    Command,
    Parameter,
    ParameterValue,
    Pipeline,
    Secret,
    Statement,
    Switch,
    as_pipeline,
    quote,
    render_value,
)

__all__ = [
    "Command",
    "Parameter",
    "ParameterValue",
    "Pipeline",
    "Secret",
    "Statement",
    "Switch",
    "as_pipeline",
    "quote",
    "render_value",
]
