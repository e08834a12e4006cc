"""Set arguments: exact, add and remove against current members."""

import pytest
from pydantic import ValidationError

from exchange_agent.tasks.setops import SetSpec


def test_add_keeps_existing_members():
    spec = SetSpec[str].model_validate({"add": ["ExchangeUsers"]})
    current = ["AnonymousUsers", "ExchangeServers"]
    assert spec.apply(current) == ["AnonymousUsers", "ExchangeServers", "ExchangeUsers"]


def test_add_existing_member_is_no_change():
    spec = SetSpec[str].model_validate({"add": ["ExchangeUsers"]})
    assert spec.apply(["ExchangeUsers"]) == ["ExchangeUsers"]


def test_remove_and_add_together():
    spec = SetSpec[str].model_validate({"add": ["B"], "remove": ["A"]})
    assert spec.apply(["A", "C"]) == ["C", "B"]


def test_plain_list_means_exact():
    spec = SetSpec[str].model_validate(["X", "Y", "X"])
    assert spec.exact == ("X", "Y", "X")
    assert spec.apply(["Z"]) == ["X", "Y"]


def test_key_makes_comparison_case_insensitive():
    spec = SetSpec[str].model_validate({"remove": ["exchangeusers"]})
    assert spec.apply(["ExchangeUsers", "Partners"], key=str.lower) == ["Partners"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"exact": ["A"], "add": ["B"]}, "either exact, or add and remove"),
        ({}, "give exact, add or remove"),
        ({"add": ["A"], "remove": ["A"]}, "both add and remove"),
        ({"append": ["A"]}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_combinations(value, message):
    with pytest.raises(ValidationError, match=message):
        SetSpec[str].model_validate(value)
