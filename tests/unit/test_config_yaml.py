"""YAML loading: plain values, positions of every key and item, and located errors."""

from pathlib import Path

import pytest

from exchange_agent.config.yaml import load_yaml, parse_yaml
from exchange_agent.errors import ConfigError, SourceLocation


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "cfg.yml")
    return caught.value


class TestParse:
    def test_values_become_plain_types(self) -> None:
        data, _ = parse_yaml("a: [1, 2.5, true, x]\nb: {c: null}\n", "cfg.yml")

        assert data == {"a": [1, 2.5, True, "x"], "b": {"c": None}}
        assert type(data) is dict
        assert type(data["a"]) is list
        assert type(data["a"][3]) is str

    def test_locations_of_keys_and_items(self) -> None:
        text = "hosts:\n  ex01:\n    vars:\n      ranges:\n        - 10.0.0.0/24\n        - x\n"
        _, locations = parse_yaml(text, "cfg.yml")

        assert locations.at(("hosts",)) == SourceLocation("cfg.yml", 1, 1)
        assert locations.at(("hosts", "ex01", "vars")) == SourceLocation("cfg.yml", 3, 5)
        assert locations.at(("hosts", "ex01", "vars", "ranges", 1)) == SourceLocation(
            "cfg.yml", 6, 11
        )

    def test_unknown_path_falls_back_to_ancestor(self) -> None:
        _, locations = parse_yaml("a:\n  b: 1\n", "cfg.yml")

        assert str(locations.at(("a", "b", "missing", 3))) == "cfg.yml:2:3"
        assert str(locations.at(("nowhere",))) == "cfg.yml:1:1"
        assert str(locations.at(())) == "cfg.yml:1:1"

    def test_empty_document_is_none(self) -> None:
        data, _ = parse_yaml("", "cfg.yml")

        assert data is None

    def test_aliases_resolve_to_values(self) -> None:
        data, _ = parse_yaml("a: &x [1, 2]\nb: *x\n", "cfg.yml")

        assert data == {"a": [1, 2], "b": [1, 2]}


class TestSyntaxErrors:
    def test_unclosed_flow_sequence(self) -> None:
        error = _error("a: [1, 2\nb: 3\n")

        assert str(error) == "cfg.yml:2:2: invalid YAML: expected ',' or ']', but got ':'"
        assert error.location == SourceLocation("cfg.yml", 2, 2)

    def test_tab_indentation(self) -> None:
        error = _error("a:\tb\n\t- c")

        assert str(error) == (
            "cfg.yml:1:3: invalid YAML: found character '\\t' that cannot start any token"
        )

    def test_unterminated_quote(self) -> None:
        error = _error("a: 'open\n")

        assert str(error) == "cfg.yml:2:1: invalid YAML: found unexpected end of stream"

    def test_undefined_alias(self) -> None:
        error = _error("a: &x 1\nb: *y\n")

        assert str(error) == "cfg.yml:2:4: invalid YAML: found undefined alias 'y'"

    def test_two_documents(self) -> None:
        error = _error("--- 1\n--- 2\n")

        assert str(error) == "cfg.yml:2:1: invalid YAML: but found another document"

    def test_nul_character_has_no_line(self) -> None:
        error = _error("a: \x00")

        assert error.location == SourceLocation("cfg.yml")
        assert error.message.startswith("invalid YAML: unacceptable character #x0000")


class TestDuplicateKeys:
    def test_nested_duplicate(self) -> None:
        error = _error("a: 1\nb:\n  c: 1\n  c: 2\n")

        assert str(error) == (
            'cfg.yml:4:3: duplicate key: duplicate key "c" with value "2" '
            '(original value: "1"); each key may appear once in a mapping'
        )

    def test_top_level_duplicate(self) -> None:
        error = _error("hosts: {}\nhosts: {}\n")

        assert error.location == SourceLocation("cfg.yml", 2, 1)
        assert error.message.startswith('duplicate key: duplicate key "hosts"')


class TestLoadFile:
    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "absent.yml"

        with pytest.raises(ConfigError) as caught:
            load_yaml(path)

        assert str(caught.value) == f"file not found: {path}"
        assert caught.value.location is None

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.yml"
        path.write_bytes(b"name: caf\xe9\n")

        with pytest.raises(ConfigError) as caught:
            load_yaml(path)

        assert str(caught.value).startswith(f"cannot read {path}: 'utf-8' codec can't decode")

    def test_directory_instead_of_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"^cannot read "):
            load_yaml(tmp_path)

    def test_location_names_file_path(self, tmp_path: Path) -> None:
        path = tmp_path / "inventory.yml"
        path.write_text("a: 1\na: 2\n", encoding="utf-8")

        with pytest.raises(ConfigError) as caught:
            load_yaml(path)

        assert caught.value.location == SourceLocation(str(path), 2, 1)


class TestUnusualNodes:
    def test_merge_key_loads(self) -> None:
        data, locations = parse_yaml("base: &b {a: 1}\nhost:\n  <<: *b\n  c: 2\n", "cfg.yml")

        assert data["host"] == {"a": 1, "c": 2}
        assert str(locations.at(("host", "c"))) == "cfg.yml:4:3"

    def test_omap_loads(self) -> None:
        data, _ = parse_yaml("a: !!omap [b: 1]\n", "cfg.yml")

        assert data == {"a": {"b": 1}}

    def test_sequence_key_rejected(self) -> None:
        with pytest.raises(ConfigError, match="mapping keys must be plain values"):
            parse_yaml("? [a]\n: 1\n", "cfg.yml")
