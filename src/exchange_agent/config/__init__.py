"""Inventory and playbooks: YAML with positions, validated into models before any connection."""

from exchange_agent.config.inventory import (
    EndpointConfig,
    HostConfig,
    Inventory,
    kerberos_principal,
    load_inventory,
)
from exchange_agent.config.patterns import select_hosts
from exchange_agent.config.playbook import Play, Playbook, TaskSpec, load_playbook
from exchange_agent.config.secrets import SecretRef
from exchange_agent.config.variables import parse_extra_vars, validate_task_args

__all__ = [
    "EndpointConfig",
    "HostConfig",
    "Inventory",
    "Play",
    "Playbook",
    "SecretRef",
    "TaskSpec",
    "kerberos_principal",
    "load_inventory",
    "load_playbook",
    "parse_extra_vars",
    "select_hosts",
    "validate_task_args",
]
