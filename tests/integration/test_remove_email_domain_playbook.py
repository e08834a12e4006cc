"""playbooks/remove-email-domain.yml validates and runs against a generated lab organization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from ruamel.yaml import YAML

from exchange_agent.journal import Journal
from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.generate import generate_organization
from exchange_agent.lab.org import Organization
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.tasks.base import TaskContext
from exchange_agent.tasks.email_domain.plan import is_in_domain
from exchange_agent.tasks.email_domain.task import RemoveEmailDomainArgs, RemoveEmailDomainTask

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "remove-email-domain.yml"


def _render(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return jinja2.Template(value).render(**variables)
    if isinstance(value, dict):
        return {key: _render(item, variables) for key, item in value.items()}
    return value


def _arguments() -> dict[str, Any]:
    [play] = YAML(typ="safe").load(PLAYBOOK.read_text())
    [entry] = play["tasks"]
    return dict(_render(entry["remove_email_domain"], play["vars"]))


def _context(org: Organization, tmp_path: Path) -> TaskContext:
    """Return a context on an in-process session over ``org``, with a journal in tmp_path."""
    session = InProcessSession("ex01", LabEngine(org, clock=ManualClock()))
    return TaskContext(
        host="ex01",
        check_mode=False,
        diff=False,
        vars={},
        open_session=lambda endpoint: session,
        journal=Journal(tmp_path / "journal.jsonl", "run"),
    )


def test_playbook_arguments_valid() -> None:
    args = RemoveEmailDomainArgs(**_arguments())
    assert args.domain == "fabrikam.com"
    assert args.policy_primary_templates == {"Default Policy": "SMTP:%m@contoso.com"}


def test_playbook_cleans_generated_organization(tmp_path: Path) -> None:
    org = generate_organization(11, 1500, 0.2)
    ctx = _context(org, tmp_path)
    result = RemoveEmailDomainTask(RemoveEmailDomainArgs(**_arguments())).run(ctx)
    assert result.status == "changed", result.message
    assert result.data["changes"] >= 300
    assert len(result.changes) == 20
    left = [
        r.name
        for r in org.recipients
        if any(is_in_domain(a, "fabrikam.com") for a in r.email_addresses)
    ]
    assert left == []
    assert "fabrikam.com" not in [d.domain_name for d in org.accepted_domains]
    near_misses = [a for r in org.recipients for a in r.email_addresses if "@notfabrikam.com" in a]
    assert near_misses


def test_playbook_keeps_contact_external_address(tmp_path: Path) -> None:
    # In the default lab, fabrikam.com is an accepted domain on its way out, and also the
    # external address of a mail contact, which the removal must leave alone.
    org = open_lab()
    ctx = _context(org, tmp_path)
    result = RemoveEmailDomainTask(RemoveEmailDomainArgs(**_arguments())).run(ctx)

    assert result.status == "changed", result.message
    kept = [w for w in result.warnings if w.startswith("Fabrikam Support: kept")]
    assert kept == [
        "Fabrikam Support: kept SMTP:support@fabrikam.com, its external address: mail to this "
        "MailContact is delivered there"
    ]
    (contact,) = [r for r in org.recipients if r.name == "Fabrikam Support"]
    assert contact.email_addresses == ["SMTP:support@fabrikam.com"]
    assert "fabrikam.com" not in [d.domain_name for d in org.accepted_domains]
    others = [r.name for r in org.recipients if r.name != "Fabrikam Support"]
    for recipient in org.recipients:
        if recipient.name in others:
            assert not any("fabrikam.com" in a for a in recipient.email_addresses)
    # A second run changes nothing and still keeps the contact.
    assert RemoveEmailDomainTask(RemoveEmailDomainArgs(**_arguments())).run(ctx).status == "ok"
