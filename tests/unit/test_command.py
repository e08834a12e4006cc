"""Command values: validation and PowerShell rendering for logs and diffs."""

import pytest

from exchange_agent.remote.command import Command, Pipeline, Secret, Switch, quote, render_value


def test_render_quotes_apostrophes():
    command = Command("Get-Mailbox", {"Identity": "O'Brien"})
    assert command.render() == "Get-Mailbox -Identity 'O''Brien'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("curly \u2019 quote", "'curly \u2019\u2019 quote'"),
        ("low \u201a and reversed \u201b", "'low \u201a\u201a and reversed \u201b\u201b'"),
        ("$env:PATH; Remove-Item", "'$env:PATH; Remove-Item'"),
        ("line\nbreak", "'line\nbreak'"),
        ("Zoë Ñúñez", "'Zoë Ñúñez'"),
        ("", "''"),
    ],
)
def test_quote_cases(text, expected):
    assert quote(text) == expected


def test_render_value_types():
    assert render_value(True) == "$true"
    assert render_value(False) == "$false"
    assert render_value(None) == "$null"
    assert render_value(42) == "42"
    assert render_value([]) == "@()"
    assert render_value(["a"]) == "@('a')"
    assert render_value(["a", "b"]) == "'a','b'"
    assert render_value({"Remove": ["smtp:a@b.com"]}) == "@{Remove=@('smtp:a@b.com')}"
    assert render_value(b"\x00" * 4) == "<4 bytes>"


def test_switch_rendering():
    command = Command("Remove-AcceptedDomain", {"Identity": "x", "Confirm": Switch(False)})
    assert command.render() == "Remove-AcceptedDomain -Identity 'x' -Confirm:$false"
    assert Command("Restart-Service", {"Name": "s", "Force": Switch()}).render() == (
        "Restart-Service -Name 's' -Force"
    )


def test_secret_never_rendered():
    command = Command("New-Thing", {"Password": Secret("hunter2")})
    assert "hunter2" not in command.render()
    assert "hunter2" not in repr(command)
    assert command.get("Password") == Secret("hunter2")


def test_pipeline_rendering():
    pipeline = Command("Get-ReceiveConnector", {"Identity": "EX01\\Relay"}) | Command(
        "Add-ADPermission", {"User": "NT AUTHORITY\\ANONYMOUS LOGON"}
    )
    assert isinstance(pipeline, Pipeline)
    assert pipeline.render() == (
        "Get-ReceiveConnector -Identity 'EX01\\Relay' | "
        "Add-ADPermission -User 'NT AUTHORITY\\ANONYMOUS LOGON'"
    )


@pytest.mark.parametrize("name", ["", "-Identity", "Iden tity", "a;b", "1st"])
def test_bad_parameter_name_rejected(name):
    with pytest.raises(ValueError, match="invalid parameter name"):
        Command("Get-Mailbox", {name: "x"})


@pytest.mark.parametrize("name", ["Get Mailbox", "Get-Mailbox;whoami", "whoami.exe", ""])
def test_bad_cmdlet_name_rejected(name):
    with pytest.raises(ValueError, match="invalid cmdlet name"):
        Command(name)


def test_duplicate_parameter_rejected():
    with pytest.raises(ValueError, match="given twice"):
        Command(
            "Get-Mailbox",
            [
                *Command("Get-Mailbox", {"Identity": "a"}).parameters,
                *Command("Get-Mailbox", {"identity": "b"}).parameters,
            ],
        )


def test_with_parameters_keeps_order():
    command = Command("Set-Mailbox", {"Identity": "a", "Force": Switch()})
    changed = command.with_parameters(Identity="b", Confirm=Switch(False))
    assert [p.name for p in changed] == ["Identity", "Force", "Confirm"]
    assert changed.get("identity") == "b"
