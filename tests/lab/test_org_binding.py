"""Parameter binding of lab cmdlets follows PowerShell's rules."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from exchange_agent.lab.cmdlets.registry import CmdletSpec, Param, bind
from exchange_agent.lab.contract import LabObject, LabTerminatingError


def _noop(ctx: Any, **bound: Any) -> None:
    return None


SPEC = CmdletSpec(
    name="Set-Thing",
    endpoint="exchange",
    params=(
        Param("Identity", "identity", mandatory=True, position=0, pipeline_by_property="Identity"),
        Param("PermissionGroups", "string[]"),
        Param("Members", "string[]", mandatory=True),
        Param("Enabled", "bool"),
        Param("MaxCount", "int"),
        Param("Confirm", "switch"),
        Param("Guid", "guid"),
        Param("Changes", "hashtable"),
        Param("Name", "string", aliases=("DisplayName",)),
        Param("NameSuffix", "string"),
    ),
    function=_noop,
    namespace="RecipientTasks",
)


def _error_id(parameters: dict[str, Any], piped: LabObject | None = None) -> str:
    with pytest.raises(LabTerminatingError) as caught:
        bind(SPEC, parameters, piped)
    return caught.value.record.fully_qualified_error_id


def test_bind_names_case_insensitive() -> None:
    bound = bind(SPEC, {"identity": "a", "MEMBERS": ["x"], "enabled": True})
    assert bound == {"Identity": "a", "Members": ["x"], "Enabled": True}


def test_bind_unique_prefix() -> None:
    bound = bind(SPEC, {"Ident": "a", "Mem": "x", "Perm": "AnonymousUsers"})
    assert bound["Identity"] == "a"
    assert bound["PermissionGroups"] == ["AnonymousUsers"]


def test_bind_exact_name_beats_longer_prefix_match() -> None:
    bound = bind(SPEC, {"Identity": "a", "Members": "x", "Name": "n"})
    assert bound["Name"] == "n"
    assert "NameSuffix" not in bound


def test_bind_alias() -> None:
    bound = bind(SPEC, {"Identity": "a", "Members": "x", "displayname": "n"})
    assert bound["Name"] == "n"


def test_bind_ambiguous_prefix() -> None:
    with pytest.raises(LabTerminatingError) as caught:
        bind(SPEC, {"Identity": "a", "Members": "x", "Ma": 1, "M": 2})
    record = caught.value.record
    assert record.fully_qualified_error_id.startswith("AmbiguousParameter,")
    assert "'M'" in record.message or "'Ma'" in record.message


def test_bind_unknown_parameter() -> None:
    with pytest.raises(LabTerminatingError) as caught:
        bind(SPEC, {"Identity": "a", "Members": "x", "Colour": "red"})
    record = caught.value.record
    assert record.message == "A parameter cannot be found that matches parameter name 'Colour'."
    assert record.fully_qualified_error_id == (
        "NamedParameterNotFound,Microsoft.Exchange.Management.RecipientTasks.SetThing"
    )
    assert record.category == "InvalidArgument"
    assert record.exception_type == "System.Management.Automation.ParameterBindingException"


def test_bind_missing_mandatory_no_prompt() -> None:
    with pytest.raises(LabTerminatingError) as caught:
        bind(SPEC, {"Enabled": True})
    record = caught.value.record
    assert record.fully_qualified_error_id.startswith("MissingMandatoryParameter,")
    assert record.message.endswith("missing mandatory parameters: Identity Members.")


def test_bind_switch_forms() -> None:
    base = {"Identity": "a", "Members": "x"}
    assert bind(SPEC, {**base, "Confirm": None})["Confirm"] is True
    assert bind(SPEC, {**base, "Confirm": False})["Confirm"] is False
    assert _error_id({**base, "Confirm": "yes"}).startswith("ParameterArgumentTransformationError")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Enabled", "true"),
        ("Enabled", [True]),
        ("MaxCount", "ten"),
        ("MaxCount", 1.5),
        ("Guid", "not-a-guid"),
        ("Changes", "x"),
    ],
)
def test_bind_conversion_failure(name: str, value: Any) -> None:
    with pytest.raises(LabTerminatingError) as caught:
        bind(SPEC, {"Identity": "a", "Members": "x", name: value})
    record = caught.value.record
    assert record.fully_qualified_error_id.startswith("ParameterArgumentTransformationError,")
    assert f"parameter '{name}'" in record.message
    assert record.category == "InvalidData"


def test_bind_conversions() -> None:
    bound = bind(
        SPEC,
        {
            "Identity": "a",
            "Members": "x",
            "MaxCount": "42",
            "Enabled": 0,
            "Guid": "75d6aeb5-cd4a-4c58-ab2c-76304ea198ab",
            "Changes": {"Add": ["b"]},
        },
    )
    assert bound["MaxCount"] == 42
    assert bound["Enabled"] is False
    assert bound["Guid"] == UUID("75d6aeb5-cd4a-4c58-ab2c-76304ea198ab")
    assert bound["Changes"] == {"Add": ["b"]}


def test_bind_empty_mandatory_array() -> None:
    with pytest.raises(LabTerminatingError) as caught:
        bind(SPEC, {"Identity": "a", "Members": []})
    record = caught.value.record
    assert record.fully_qualified_error_id.startswith(
        "ParameterArgumentValidationErrorEmptyArrayNotAllowed,"
    )
    assert record.message == (
        "Cannot bind argument to parameter 'Members' because it is an empty array."
    )


def test_bind_empty_optional_array_allowed() -> None:
    assert (
        bind(SPEC, {"Identity": "a", "Members": "x", "PermissionGroups": []})["PermissionGroups"]
        == []
    )


def test_bind_null_mandatory_rejected() -> None:
    error_id = _error_id({"Identity": None, "Members": "x"})
    assert error_id.startswith("ParameterArgumentValidationErrorNullNotAllowed,")


def test_bind_parameter_given_twice() -> None:
    assert _error_id({"Identity": "a", "identity": "b", "Members": "x"}).startswith(
        "ParameterAlreadyBound,"
    )


def test_bind_pipeline_by_property() -> None:
    piped = LabObject(("T", "System.Object"), "EX01\\C", {"Identity": "EX01\\C", "Name": "C"})
    bound = bind(SPEC, {"Members": "x"}, piped)
    assert bound["Identity"] == "EX01\\C"


def test_bind_pipeline_with_parameter_already_named() -> None:
    # PowerShell does not let the pipeline rebind a parameter the caller named.
    piped = LabObject(("T",), None, {"Identity": "piped"})
    assert _error_id({"Identity": "named", "Members": "x"}, piped).startswith(
        "InputObjectNotBound,"
    )


def test_bind_pipeline_object_without_matching_property() -> None:
    piped = LabObject(("T",), "thing", {"Other": 1})
    assert _error_id({"Members": "x"}, piped).startswith("InputObjectNotBound,")
