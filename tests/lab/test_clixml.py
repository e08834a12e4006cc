"""Tests of the lab's CLIXML serializer, read back through the agent's own parser."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from uuid import UUID

import pytest

from exchange_agent.lab.clixml import (
    escape_string,
    serialize_error_record,
    serialize_object,
    serialize_value,
    serialize_warning,
)
from exchange_agent.lab.contract import LabErrorRecord, LabObject, LabWarning, MultiValued
from exchange_agent.remote.clixml import parse_object
from exchange_agent.remote.result import ExObject

CONNECTOR_TYPES = (
    "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector",
    "Deserialized.Microsoft.Exchange.Data.Directory.ADConfigurationObject",
    "System.Object",
)


def make_connector(name: str = "Default Frontend EX01") -> LabObject:
    return LabObject(
        CONNECTOR_TYPES,
        f"EX01\\{name}",
        {
            "Name": name,
            "Enabled": True,
            "MaxMessageSize": 37748736,
            "Large": 2**40,
            "Ratio": 0.5,
            "Bindings": MultiValued(("0.0.0.0:25", "[::]:25")),
            "RemoteIPRanges": MultiValued(()),
            "Guid": UUID("6f1c2a4e-0000-4000-8000-000000000001"),
            "WhenChanged": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            "Thumbprint": b"\x01\x02\xff",
            "Comment": None,
            "Server": LabObject(("Deserialized.Server", "System.Object"), "EX01", {"Name": "EX01"}),
        },
    )


def test_object_round_trips_through_the_agent_parser() -> None:
    parsed = parse_object(serialize_object(make_connector()))
    assert isinstance(parsed, ExObject)
    assert parsed.type_names[0] == CONNECTOR_TYPES[0]
    assert parsed.to_string == "EX01\\Default Frontend EX01"
    assert parsed["Enabled"] is True
    assert parsed["MaxMessageSize"] == 37748736
    assert parsed["Large"] == 2**40
    assert parsed["Ratio"] == 0.5
    assert parsed["Bindings"] == ["0.0.0.0:25", "[::]:25"]
    assert parsed["RemoteIPRanges"] == []
    assert parsed["Guid"] == UUID("6f1c2a4e-0000-4000-8000-000000000001")
    assert parsed["WhenChanged"] == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parsed["Thumbprint"] == b"\x01\x02\xff"
    assert parsed["Comment"] is None
    assert parsed["Server"]["Name"] == "EX01"


def test_element_shapes_match_exchange_output() -> None:
    root = ET.fromstring(serialize_object(make_connector()))
    assert root.tag == "Obj"
    assert [t.text for t in root.find("TN") or []] == list(CONNECTOR_TYPES)
    props = root.find("Props")
    assert props is not None
    tags = {child.get("N"): child.tag for child in props}
    assert tags["Enabled"] == "B"
    assert tags["MaxMessageSize"] == "I32"
    assert tags["Large"] == "I64"
    assert tags["Ratio"] == "Db"
    assert tags["Guid"] == "G"
    assert tags["Thumbprint"] == "BA"
    assert tags["Comment"] == "Nil"
    bindings = props.find("Obj[@N='Bindings']")
    assert bindings is not None
    assert bindings.find("ToString") is None
    assert [s.text for s in bindings.find("LST") or []] == ["0.0.0.0:25", "[::]:25"]
    empty = props.find("Obj[@N='RemoteIPRanges']")
    assert empty is not None
    empty_list = empty.find("LST")
    assert empty_list is not None
    assert len(empty_list) == 0


def test_repeated_type_chain_uses_tnref() -> None:
    text = serialize_object(
        LabObject(
            ("Outer", "System.Object"),
            "o",
            {
                "A": MultiValued(("x",)),
                "B": MultiValued(("y",)),
            },
        )
    )
    root = ET.fromstring(text)
    assert len(root.findall(".//TN")) == 2
    assert len(root.findall(".//TNRef")) == 1
    ref_ids = [e.get("RefId") for e in root.iter("Obj")]
    assert len(ref_ids) == len(set(ref_ids)) == 3
    assert parse_object(text)["B"] == ["y"]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ("line\r\nnext", "line_x000D__x000A_next"),
        ("bell\x07", "bell_x0007_"),
        ("nul\x00", "nul_x0000_"),
        ("literal _x0041_ text", "literal _x005F_x0041_ text"),
        ("a_b", "a_b"),
        ("<&>", "&lt;&amp;&gt;"),
    ],
)
def test_escape_string(value: str, escaped: str) -> None:
    assert escape_string(value) == escaped
    assert parse_object(f"<S>{escaped}</S>") == value


def test_property_names_are_escaped_for_attributes() -> None:
    text = serialize_object(LabObject(("T",), None, {'a"<b': "v"}))
    assert parse_object(text)['a"<b'] == "v"


def test_unsupported_value_raises_type_error() -> None:
    with pytest.raises(TypeError, match="cannot serialize set"):
        serialize_value({"x"})


def test_error_record_shape() -> None:
    record = LabErrorRecord(
        message="The operation couldn't be performed because object 'X' couldn't be found.",
        fully_qualified_error_id="A1B2,Microsoft.Exchange.Management.Get-ReceiveConnector",
        category="ObjectNotFound",
        reason="ManagementObjectNotFoundException",
        target="X",
        exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        command="Get-ReceiveConnector",
    )
    parsed = parse_object(serialize_error_record(record))
    assert parsed.type_names[0] == "System.Management.Automation.ErrorRecord"
    assert parsed["FullyQualifiedErrorId"] == record.fully_qualified_error_id
    assert parsed["ErrorCategory_Category"] == 13
    assert parsed["ErrorCategory_Reason"] == "ManagementObjectNotFoundException"
    assert parsed["Exception"]["Message"] == record.message
    assert parsed["Exception"].type_names[0] == record.exception_type
    assert parsed["TargetObject"] == "X"


def test_warning_record_shape() -> None:
    parsed = parse_object(serialize_warning(LabWarning("The command completed successfully")))
    assert parsed.type_names[0] == "System.Management.Automation.WarningRecord"
    assert parsed["InformationalRecord_Message"] == "The command completed successfully"
