"""The CLIXML parser on real Exchange output and on hand-built edge cases."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_agent.remote.clixml import ClixmlError, decode_string, parse_clixml, parse_object
from exchange_agent.remote.result import ExObject

FIXTURES = Path("/work/shared/fixtures/exchange-clixml")
ALL_FIXTURES = sorted(FIXTURES.rglob("*.xml"))
# Objects per file, from the files' provenance list.
EXPECTED_COUNTS = {
    "3gstudent/Ex2016_GetMailbox_PipelineOutput_wire.xml": 1,
    "css-exchange/E19/GetReceiveConnector.xml": 5,
    "css-exchange/E19/GetAcceptedDomain.xml": 3,
    "css-exchange/E15/GetExchangeCertificate.xml": 3,
    "css-exchange/E16/GetExchangeCertificate.xml": 3,
    "css-exchange/E19/GetExchangeCertificate.xml": 3,
    "css-exchange/E19/TestServiceHealth.xml": 3,
    "css-exchange/ExchangeInformation/GetExchangeCertificateBroken.xml": 5,
    "css-exchange/MonitorExchangeAuthCertificate/GetExchangeServer.xml": 2,
}


def load(name: str) -> list[object]:
    return parse_clixml((FIXTURES / name).read_bytes())


@pytest.mark.skipif(not ALL_FIXTURES, reason="fixture directory is not present")
@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_parses_to_objects(path: Path) -> None:
    objects = parse_clixml(path.read_bytes())
    expected = EXPECTED_COUNTS.get(str(path.relative_to(FIXTURES)), 1)
    assert len(objects) == expected
    for obj in objects:
        assert isinstance(obj, ExObject)
        assert obj.type_names[-1].endswith("System.Object")
        assert "SerializationData" not in obj


def test_fixture_count_matches_provenance() -> None:
    assert len(ALL_FIXTURES) == 21


def test_mailbox_wire_capture_values() -> None:
    (mailbox,) = load("3gstudent/Ex2016_GetMailbox_PipelineOutput_wire.xml")
    assert isinstance(mailbox, ExObject)
    assert str(mailbox) == "Administrator"
    assert mailbox.type_names[0] == "Microsoft.Exchange.Data.Directory.Management.Mailbox"
    assert len(mailbox.type_names) == 8
    assert mailbox["EmailAddresses"] == ["SMTP:Administrator@test.com"]
    assert mailbox["Identity"] == "test.com/Users/Administrator"
    assert mailbox["PrimarySmtpAddress"] == "Administrator@test.com"
    assert mailbox["RecipientTypeDetails"] == "UserMailbox"
    assert mailbox["RecoverableItemsQuota"] == "30 GB (32,212,254,720 bytes)"
    assert mailbox["RetainDeletedItemsFor"] == "14.00:00:00"
    assert mailbox["AdminDisplayVersion"] == "Version 15.1 (Build 2507.6)"
    assert mailbox["ExchangeGuid"] == UUID("9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2")
    assert mailbox["MailboxProvisioningPreferences"] == []
    assert mailbox["RetentionComment"] == ""
    assert mailbox["EndDateForRetentionHold"] is None
    assert mailbox["UseDatabaseQuotaDefaults"] is True
    assert mailbox["AuditAdmin"][:3] == ["Update", "Move", "MoveToDeletedItems"]
    assert mailbox["MailboxLocations"] == [
        "1;9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2;Primary;test.com;"
        "0f29ba80-17c3-4c51-9d94-d017c850e3be"
    ]


def test_mailbox_dates_keep_offset() -> None:
    (mailbox,) = load("3gstudent/Ex2016_GetMailbox_PipelineOutput_wire.xml")
    assert isinstance(mailbox, ExObject)
    changed = mailbox["WhenChanged"]
    assert isinstance(changed, datetime)
    assert changed.utcoffset() == timedelta(hours=-7)
    assert mailbox["WhenChangedUTC"].tzinfo is not None
    assert mailbox["WhenChangedUTC"] == changed


def test_mailbox_languages_are_nested_objects() -> None:
    (mailbox,) = load("3gstudent/Ex2016_GetMailbox_PipelineOutput_wire.xml")
    assert isinstance(mailbox, ExObject)
    (language,) = mailbox["Languages"]
    assert isinstance(language, ExObject)
    assert str(language) == "en-US"
    assert language["LCID"] == 1033


def test_receive_connector_enums_are_text() -> None:
    connectors = load("css-exchange/E19/GetReceiveConnector.xml")
    by_name = {str(c).split("\\", 1)[1]: c for c in connectors if isinstance(c, ExObject)}
    frontend = by_name["Default Frontend WIN-CTD3L0RGEN4"]
    assert frontend["PermissionGroups"] == "AnonymousUsers, ExchangeServers, ExchangeLegacyServers"
    assert frontend["AuthMechanism"] == (
        "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer"
    )
    assert frontend["TransportRole"] == "FrontendTransport"
    assert frontend["MaxMessageSize"] == "36 MB (37,748,736 bytes)"
    assert frontend["Enabled"] is True
    assert by_name["Client Frontend WIN-CTD3L0RGEN4"]["PermissionGroups"] == "ExchangeUsers"
    assert by_name["Default WIN-CTD3L0RGEN4"]["TransportRole"] == "HubTransport"


def test_receive_connector_multi_valued_objects() -> None:
    connectors = load("css-exchange/E19/GetReceiveConnector.xml")
    frontend = connectors[2]
    assert isinstance(frontend, ExObject)
    assert [str(b) for b in frontend["Bindings"]] == ["[::]:25", "0.0.0.0:25"]
    assert frontend["Bindings"][1]["Port"] == 25
    assert [str(r) for r in frontend["RemoteIPRanges"]] == [
        "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "0.0.0.0-255.255.255.255",
    ]
    assert frontend["WhenChanged"] == datetime(
        2022, 3, 23, 17, 48, 26, tzinfo=timezone(timedelta(hours=1))
    )


def test_receive_connector_nested_identity() -> None:
    connector = load("css-exchange/E19/GetReceiveConnector.xml")[0]
    assert isinstance(connector, ExObject)
    identity = connector["Identity"]
    assert isinstance(identity, ExObject)
    assert str(identity) == "WIN-CTD3L0RGEN4\\Default WIN-CTD3L0RGEN4"
    assert identity.type_names[0] == "Microsoft.Exchange.Data.Directory.ADObjectId"
    assert identity["Name"] == "Default WIN-CTD3L0RGEN4"
    assert isinstance(identity["ObjectGuid"], UUID)


def test_ref_resolves_to_same_value() -> None:
    connector = load("css-exchange/E19/GetReceiveConnector.xml")[0]
    assert isinstance(connector, ExObject)
    # <Ref N="Id" RefId=...> points back at the Identity object written earlier.
    assert connector["Id"] is connector["Identity"]


def test_accepted_domains() -> None:
    domains = load("css-exchange/E19/GetAcceptedDomain.xml")
    summary = [
        (str(d), str(d["DomainName"]), d["DomainType"], d["Default"])
        for d in domains
        if isinstance(d, ExObject)
    ]
    assert summary == [
        ("Solo.com", "Solo.com", "Authoritative", True),
        ("Contoso Wild", "*.contoso.local", "Authoritative", False),
        ("Wild .com", "*.com", "InternalRelay", False),
    ]
    assert domains[2]["DomainName"]["IncludeSubDomains"] is True  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "version", "roles"),
    [
        (
            "css-exchange/E15/GetExchangeServer.xml",
            "Version 15.0 (Build 1497.2)",
            "Mailbox, ClientAccess",
        ),
        ("css-exchange/E16/GetExchangeServer.xml", "Version 15.1 (Build 2375.7)", "Mailbox"),
        ("css-exchange/E19/GetExchangeServer.xml", "Version 15.2 (Build 986.5)", "Mailbox"),
    ],
)
def test_exchange_server_versions(name: str, version: str, roles: str) -> None:
    (server,) = load(name)
    assert isinstance(server, ExObject)
    # At serialization level Full the version is an object whose ToString is the display text.
    assert str(server["AdminDisplayVersion"]) == version
    assert server["ServerRole"] == roles


def test_owa_virtual_directory_urls() -> None:
    (owa,) = load("css-exchange/E19/GetOwaVirtualDirectory.xml")
    assert isinstance(owa, ExObject)
    assert str(owa) == "SOLO-E19A\\owa (Default Web Site)"
    assert owa["InternalUrl"] == "https://solo-e19a.solo.com/owa"
    assert owa["ExternalUrl"] is None
    assert owa["InternalAuthenticationMethods"] == ["Basic", "Fba"]


def test_certificate_escapes_and_raw_data() -> None:
    certificates = load("css-exchange/E19/GetExchangeCertificate.xml")
    second = certificates[1]
    assert isinstance(second, ExObject)
    assert second.to_string is not None
    assert second.to_string.startswith("[Subject]\r\n  CN=Solo-E19A\r\n")
    raw = second["RawData"]
    assert isinstance(raw, bytes)
    thumbprint = hashlib.sha1(raw).hexdigest().upper()
    assert thumbprint == "6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28"
    assert f"[Thumbprint]\r\n  {thumbprint}\r\n" in second.to_string


def test_deserialized_prefix_is_kept() -> None:
    certificate = load("css-exchange/ExchangeInformation/GetExchangeCertificateBroken.xml")[0]
    assert isinstance(certificate, ExObject)
    assert certificate.type_names[0].startswith("Deserialized.Microsoft.Exchange")
    assert isinstance(certificate["RawData"], bytes)


def test_service_depth_truncation() -> None:
    (service,) = load("css-exchange/E19/GetServiceMitigation.xml")
    assert isinstance(service, ExObject)
    assert service["Status"] == "Running"
    assert service["DependentServices"] == []
    (required,) = service["RequiredServices"]
    assert str(required) == "MSExchangeADTopology"
    assert required["RequiredServices"] == ["NetTcpPortSharing"]


def test_dynamic_group_full_level_addresses() -> None:
    (group,) = load("css-exchange/E19/GetDynamicDistributionGroupPfMailboxes.xml")
    assert isinstance(group, ExObject)
    (address,) = group["EmailAddresses"]
    assert str(address) == (
        "SMTP:PublicFolderMailboxes.419323dd2b7d4d04a724dcc15e467521@vnext.local"
    )
    assert address["IsPrimaryAddress"] is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("plain", "plain"),
        ("line1_x000D__x000A_line2", "line1\r\nline2"),
        ("tab_x0009_end", "tab\tend"),
        ("literal_x005F_x0041_", "literal_x0041_"),
        ("smile_xD83D__xDE00_", "smile\U0001f600"),
        ("lone_xD83D_", "lone\ufffd"),
        ("not_x12_escape", "not_x12_escape"),
        ("upper_x00E9_", "upper\u00e9"),
    ],
)
def test_decode_string(text: str, expected: str) -> None:
    assert decode_string(text) == expected


def test_primitives() -> None:
    body = (
        '<Obj RefId="0"><TN RefId="0"><T>Lab.Thing</T><T>System.Object</T></TN>'
        "<ToString>thing</ToString><Props>"
        '<I32 N="i32">-5</I32><I64 N="i64">9007199254740993</I64>'
        '<U64 N="u64">18446744073709551615</U64>'
        '<By N="by">255</By><Db N="db">1.5</Db><Sg N="sg">2.25</Sg><D N="d">1.10</D>'
        '<C N="c">65</C><B N="b">false</B><Nil N="nil" /><S N="empty" />'
        '<TS N="ts">P1DT2H3M4.5S</TS><TS N="neg">-PT30M</TS>'
        '<DT N="dt">2021-08-21T08:43:54.1234567Z</DT>'
        '<BA N="ba">AAEC/w==</BA><URI N="uri">http://ex01/PowerShell</URI>'
        '<Version N="v">15.2.1118.7</Version>'
        "</Props></Obj>"
    )
    obj = parse_object(body)
    assert isinstance(obj, ExObject)
    assert obj["i32"] == -5
    assert obj["i64"] == 9007199254740993
    assert obj["u64"] == 2**64 - 1
    assert obj["by"] == 255
    assert obj["db"] == 1.5
    assert obj["sg"] == 2.25
    assert obj["d"] == Decimal("1.10")
    assert obj["c"] == "A"
    assert obj["b"] is False
    assert obj["nil"] is None
    assert obj["empty"] == ""
    assert obj["ts"] == timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert obj["neg"] == timedelta(minutes=-30)
    assert obj["dt"] == datetime(2021, 8, 21, 8, 43, 54, 123456, tzinfo=UTC)
    assert obj["ba"] == b"\x00\x01\x02\xff"
    assert obj["uri"] == "http://ex01/PowerShell"
    assert obj["v"] == "15.2.1118.7"


def test_collections_and_dictionary() -> None:
    body = (
        "<Obj><TN><T>Lab.Thing</T><T>System.Object</T></TN><Props>"
        '<Obj N="stack"><TN><T>System.Collections.Stack</T></TN><STK><I32>1</I32></STK></Obj>'
        '<Obj N="queue"><TN><T>System.Collections.Queue</T></TN><QUE><S>a</S></QUE></Obj>'
        '<Obj N="ie"><TN><T>Some.Enumerable</T></TN><IE><B>true</B></IE></Obj>'
        '<Obj N="table"><TN><T>System.Collections.Hashtable</T></TN><DCT>'
        '<En><S N="Key">Remove</S><Obj N="Value"><TN><T>System.Object[]</T></TN>'
        "<LST><S>smtp:a@fabrikam.com</S></LST></Obj></En>"
        '<En><I32 N="Key">2</I32><Nil N="Value" /></En>'
        "</DCT></Obj>"
        "</Props></Obj>"
    )
    obj = parse_object(body)
    assert isinstance(obj, ExObject)
    assert obj["stack"] == [1]
    assert obj["queue"] == ["a"]
    assert obj["ie"] == [True]
    assert obj["table"] == {"Remove": ["smtp:a@fabrikam.com"], 2: None}


def test_multi_valued_property_with_tnref_and_escapes() -> None:
    body = (
        "<Obj><TN><T>Lab.Thing</T></TN><Props>"
        '<Obj N="First" RefId="1"><TN RefId="1">'
        "<T>Microsoft.Exchange.Data.ProxyAddressCollection</T>"
        "<T>Microsoft.Exchange.Data.MultiValuedPropertyBase</T><T>System.Object</T></TN>"
        "<LST><S>SMTP:ada_x005F_x@contoso.com</S><S>X500:/o=Org_x000A_</S></LST></Obj>"
        '<Obj N="Second" RefId="2"><TNRef RefId="1" /><LST /></Obj>'
        "</Props></Obj>"
    )
    obj = parse_object(body)
    assert isinstance(obj, ExObject)
    assert obj["First"] == ["SMTP:ada_x@contoso.com", "X500:/o=Org\n"]
    assert obj["Second"] == []


def test_namespaced_document_with_bom() -> None:
    text = (
        '\ufeff<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        '<S>one</S><I32>2</I32><Obj RefId="0"><TN RefId="0"><T>X.Enum</T><T>System.Enum</T>'
        "</TN><ToString>Running</ToString><I32>4</I32></Obj></Objs>"
    )
    assert parse_clixml(text) == ["one", 2, "Running"]
    assert parse_clixml(text.encode("utf-8")) == ["one", 2, "Running"]


def test_boxed_primitive_without_tostring() -> None:
    assert parse_object("<Obj><TN><T>System.Int32</T></TN><I32>7</I32></Obj>") == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<Obj><Props>", "invalid CLIXML"),
        ("<I32>seven</I32>", "invalid <I32> value 'seven'"),
        ("<G>not-a-guid</G>", "invalid <G> value"),
        ("<TS>1 day</TS>", "invalid <TS> duration"),
        ('<Ref RefId="9" />', "points to no earlier object"),
        (
            '<!DOCTYPE x [<!ENTITY a "aaaa">]><S>&a;</S>',
            "a document type declaration is not allowed",
        ),
    ],
)
def test_invalid_input_raises(text: str, message: str) -> None:
    with pytest.raises(ClixmlError, match=message):
        parse_object(text)


def test_clixml_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="invalid CLIXML"):
        parse_clixml("not xml")


def escape_like_powershell(text: str) -> str:
    """Escape ``text`` the way PowerShell's serializer writes ``<S>`` content."""
    out: list[str] = []
    units = text.encode("utf-16-le", "surrogatepass")
    code_units = [int.from_bytes(units[i : i + 2], "little") for i in range(0, len(units), 2)]
    index = 0
    while index < len(code_units):
        unit = code_units[index]
        char = chr(unit)
        if 0xD800 <= unit <= 0xDFFF:
            out.append(f"_x{unit:04X}_")
        elif char == "_" and text_at(code_units, index + 1) == "x":
            out.append("_x005F_")
        elif unit < 0x20 or unit in (0xFFFE, 0xFFFF):
            out.append(f"_x{unit:04X}_")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def text_at(code_units: list[int], index: int) -> str:
    return chr(code_units[index]) if index < len(code_units) else ""


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_decode_string_inverts_escaping(text: str) -> None:
    assert decode_string(escape_like_powershell(text)) == text
