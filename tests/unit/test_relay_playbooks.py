"""The relay playbooks load and their task arguments pass validation."""

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from exchange_agent.config.templating import render
from exchange_agent.errors import SourceLocation
from exchange_agent.tasks import registry

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def _substitute(value: Any, variables: dict[str, Any]) -> Any:
    return render(value, variables, lambda path: SourceLocation("playbook"))


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
