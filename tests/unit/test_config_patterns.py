"""Host patterns: all, names, groups, globs, exclusion, intersection, unions and limits."""

from pathlib import Path

import pytest

from exchange_agent.config import load_inventory, select_hosts
from exchange_agent.config.inventory import Inventory
from exchange_agent.errors import ConfigError

INVENTORY = """\
groups:
  mailbox:
    hosts: [ex01, ex02]
  edge:
    hosts: [edge01]
  dag1:
    hosts: [ex02, ex03]
hosts:
  ex01: {}
  ex02: {}
  ex03: {}
  edge01: {}
"""
KNOWN = "known: mailbox, edge, dag1, ex01, ex02, ex03, edge01"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("patterns") / "inventory.yml"
    path.write_text(INVENTORY, encoding="utf-8")
    return load_inventory(path)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("all", ["ex01", "ex02", "ex03", "edge01"]),
        ("*", ["ex01", "ex02", "ex03", "edge01"]),
        ("mailbox", ["ex01", "ex02"]),
        ("ex03", ["ex03"]),
        ("ex0*", ["ex01", "ex02", "ex03"]),
        ("ex0?", ["ex01", "ex02", "ex03"]),
        ("ex0[13]", ["ex01", "ex03"]),
        ("m*", ["ex01", "ex02"]),
        ("all:!edge", ["ex01", "ex02", "ex03"]),
        ("all,!ex02", ["ex01", "ex03", "edge01"]),
        ("!ex01", ["ex02", "ex03", "edge01"]),
        ("!mailbox:!edge", ["ex03"]),
        ("mailbox:&dag1", ["ex02"]),
        ("&dag1", ["ex02", "ex03"]),
        ("ex03:&mailbox", []),
        ("mailbox,edge", ["ex01", "ex02", "edge01"]),
        ("mailbox:edge", ["ex01", "ex02", "edge01"]),
        ("edge01, ex01", ["ex01", "edge01"]),
        ("dag1:mailbox:!ex02", ["ex01", "ex03"]),
    ],
)
def test_select(inventory: Inventory, pattern: str, expected: list[str]) -> None:
    assert select_hosts(inventory, pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "limit", "expected"),
    [
        ("all", "ex0[12]", ["ex01", "ex02"]),
        ("all", "!ex02", ["ex01", "ex03", "edge01"]),
        ("mailbox", "dag1", ["ex02"]),
        ("edge", "mailbox", []),
        ("all", None, ["ex01", "ex02", "ex03", "edge01"]),
        ("all", "", ["ex01", "ex02", "ex03", "edge01"]),
    ],
)
def test_limit(inventory: Inventory, pattern: str, limit: str | None, expected: list[str]) -> None:
    assert select_hosts(inventory, pattern, limit) == expected


@pytest.mark.parametrize(("pattern", "term"), [("nothing", "nothing"), ("all:!zz*", "zz*")])
def test_term_matching_nothing(inventory: Inventory, pattern: str, term: str) -> None:
    with pytest.raises(ConfigError) as caught:
        select_hosts(inventory, pattern)

    assert str(caught.value) == f"host pattern {term!r} matches no host or group; {KNOWN}"


def test_limit_matching_nothing(inventory: Inventory) -> None:
    with pytest.raises(ConfigError) as caught:
        select_hosts(inventory, "mailbox", "nope")

    assert str(caught.value) == f"host pattern 'nope' matches no host or group; {KNOWN}"


@pytest.mark.parametrize("pattern", ["", " , ", ":"])
def test_empty_pattern(inventory: Inventory, pattern: str) -> None:
    with pytest.raises(ConfigError) as caught:
        select_hosts(inventory, pattern)

    assert str(caught.value) == f"empty host pattern {pattern!r}"


def test_glob_is_case_sensitive(inventory: Inventory) -> None:
    with pytest.raises(ConfigError, match="'EX0\\*' matches no host"):
        select_hosts(inventory, "EX0*")


def test_order_follows_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text("hosts:\n  b: {}\n  a: {}\n  c: {}\n", encoding="utf-8")

    assert select_hosts(load_inventory(path), "c,a,b") == ["b", "a", "c"]
