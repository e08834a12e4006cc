"""The relay advisor: one method for each of the eight combinations of sender facts."""

import re
from pathlib import Path

import pytest

from exchange_agent.relay.advisor import SenderFacts, advise

CASES = [
    # port_fixed, can_authenticate, external_recipients, method
    (True, False, True, "anonymous-relay"),
    (False, False, True, "anonymous-relay"),
    (True, True, True, "authenticated-port-25"),
    (True, True, False, "authenticated-port-25"),
    (False, True, True, "authenticated-submission-587"),
    (False, True, False, "authenticated-submission-587"),
    (True, False, False, "direct-send"),
    (False, False, False, "direct-send"),
]


@pytest.mark.parametrize(("port_fixed", "can_authenticate", "external", "method"), CASES)
def test_advisor_method(
    port_fixed: bool, can_authenticate: bool, external: bool, method: str
) -> None:
    advice = advise(SenderFacts(port_fixed, can_authenticate, external))
    assert advice.method == method
    assert advice.why
    assert advice.caveats
    assert advice.to_dict()["method"] == method


def test_cases_cover_every_combination() -> None:
    assert len({case[:3] for case in CASES}) == 8


def test_anonymous_relay_fixed_port() -> None:
    advice = advise(SenderFacts(port_fixed=True, can_authenticate=False, external_recipients=True))
    assert advice.playbook == "playbooks/anonymous-relay.yml"
    assert set(advice.variables) == {"relay_server", "relay_connector_name", "device_subnets"}
    assert any("bypasses authentication" in caveat for caveat in advice.caveats)
    assert any("Restrict the connector" in caveat for caveat in advice.caveats)
    assert advice.alternatives == ()


def test_anonymous_relay_changeable_port() -> None:
    advice = advise(SenderFacts(port_fixed=False, can_authenticate=False, external_recipients=True))
    assert "relay_port" in advice.variables
    assert "dedicated port" in advice.why
    assert advice.alternatives


def test_authenticated_port_25_playbook() -> None:
    advice = advise(SenderFacts(port_fixed=True, can_authenticate=True, external_recipients=False))
    assert advice.playbook == "playbooks/authenticated-smtp-on-port-25.yml"
    assert "ExchangeUsers" in advice.why
    assert "restart" in advice.why


def test_submission_needs_no_playbook() -> None:
    advice = advise(SenderFacts(port_fixed=False, can_authenticate=True, external_recipients=True))
    assert advice.playbook is None
    assert "587" in advice.why
    assert "authenticated-port-25" in advice.alternatives[0]


def test_direct_send_warns_about_spf() -> None:
    advice = advise(SenderFacts(port_fixed=True, can_authenticate=False, external_recipients=False))
    assert advice.playbook == "playbooks/audit-spf.yml"
    assert "spf_nameservers" in advice.variables
    assert any("SPF" in caveat for caveat in advice.caveats)


def test_advised_playbooks_exist() -> None:
    root = Path(__file__).resolve().parents[2]
    for port_fixed, can_authenticate, external, _ in CASES:
        advice = advise(SenderFacts(port_fixed, can_authenticate, external))
        if advice.playbook:
            assert (root / advice.playbook).is_file(), advice.playbook


def test_advised_variables_are_the_playbooks() -> None:
    # The advice names variables to pass with -e. The run would silently ignore a name that the
    # playbook does not use, and go ahead with the playbook's defaults.
    root = Path(__file__).resolve().parents[2]
    for port_fixed, can_authenticate, external, _ in CASES:
        advice = advise(SenderFacts(port_fixed, can_authenticate, external))
        if not advice.playbook:
            continue
        text = (root / advice.playbook).read_text(encoding="utf-8")
        used = set(re.findall(r"\{\{\s*(\w+)", text))
        for name in advice.variables:
            assert name in used, f"{advice.playbook} does not use {name}"
