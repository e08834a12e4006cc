"""The ``advise relay`` command."""

import json

import pytest
from click.testing import CliRunner

from exchange_agent.cli.advise import advise

FLAGS = {
    (True, False, True): "anonymous-relay",
    (False, False, True): "anonymous-relay",
    (True, True, True): "authenticated-port-25",
    (True, True, False): "authenticated-port-25",
    (False, True, True): "authenticated-submission-587",
    (False, True, False): "authenticated-submission-587",
    (True, False, False): "direct-send",
    (False, False, False): "direct-send",
}


def _arguments(port_fixed: bool, can_authenticate: bool, external: bool) -> list[str]:
    return [
        "relay",
        "--port-fixed" if port_fixed else "--port-changeable",
        "--can-authenticate" if can_authenticate else "--cannot-authenticate",
        "--external-recipients" if external else "--internal-only",
    ]


@pytest.mark.parametrize(("facts", "method"), list(FLAGS.items()))
def test_advise_relay_json(facts: tuple[bool, bool, bool], method: str) -> None:
    result = CliRunner().invoke(advise, [*_arguments(*facts), "--output", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["method"] == method
    assert data["facts"] == dict(
        zip(("port_fixed", "can_authenticate", "external_recipients"), facts, strict=True)
    )
    assert data["caveats"]


def test_advise_relay_text() -> None:
    result = CliRunner().invoke(advise, _arguments(True, False, True))
    assert result.exit_code == 0
    assert result.output.startswith("Method: anonymous-relay")
    assert "Playbook: playbooks/anonymous-relay.yml" in result.output
    assert "device_subnets:" in result.output
    assert "bypasses authentication" in result.output


def test_advise_relay_missing_fact_without_terminal() -> None:
    result = CliRunner().invoke(advise, ["relay", "--port-fixed", "--can-authenticate"])
    assert result.exit_code == 5
    assert "--external-recipients or --internal-only" in result.output


def test_advise_relay_lists_every_missing_fact() -> None:
    result = CliRunner().invoke(advise, ["relay", "--port-fixed"])
    assert result.exit_code == 5
    assert "--can-authenticate or --cannot-authenticate" in result.output
    assert "--external-recipients or --internal-only" in result.output
