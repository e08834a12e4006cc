"""The relay playbooks load and their task arguments pass validation."""

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from exchange_agent.tasks import registry

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
REFERENCE = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")


def _substitute(value: Any, variables: dict[str, Any]) -> Any:
    # Only whole-value references appear in these playbooks, so no template engine is needed.
    if isinstance(value, str) and (match := REFERENCE.match(value)):
        return variables[match.group(1)]
    if isinstance(value, list):
        return [_substitute(item, variables) for item in value]
    return value


@pytest.mark.parametrize(
    ("playbook", "task"),
    [("anonymous-relay.yml", "relay_connector"), ("audit-relay.yml", "relay_audit")],
)
def test_relay_playbook_arguments_valid(playbook: str, task: str) -> None:
    [play] = YAML(typ="safe").load((PLAYBOOKS / playbook).read_text())
    [entry] = play["tasks"]
    arguments = {k: _substitute(v, play["vars"]) for k, v in entry[task].items()}
    model = registry()[task].args_model(**arguments)
    assert model is not None
