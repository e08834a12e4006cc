"""Templating of task arguments, extra variables, and validation of rendered arguments."""

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from exchange_agent.config import load_playbook, parse_extra_vars, validate_task_args
from exchange_agent.config.playbook import TaskSpec
from exchange_agent.config.templating import render
from exchange_agent.errors import ConfigError, ConfigErrors, SourceLocation
from exchange_agent.tasks.relay_connector import RelayConnectorArgs

HERE = SourceLocation("site.yml", 9, 7)
VARIABLES: dict[str, Any] = {
    "printer_subnets": ["10.1.0.0/24", "10.2.0.0/24"],
    "port": 25,
    "server": "EX01",
    "connector_name": "Relay {{ server }}",
}


def _render(value: Any, variables: dict[str, Any] = VARIABLES) -> Any:
    return render(value, variables, lambda path: HERE)


def _render_error(value: Any, variables: dict[str, Any] = VARIABLES) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _render(value, variables)
    return caught.value


class TestRender:
    def test_single_expression_keeps_list(self) -> None:
        assert _render("{{ printer_subnets }}") == ["10.1.0.0/24", "10.2.0.0/24"]

    def test_single_expression_keeps_int(self) -> None:
        assert _render("{{ port }}") == 25
        assert _render("{{ port + 1 }}  \n") == 26

    @pytest.mark.parametrize("text", ["007", "0", "1.5", "None", "True", "[1]", "'a'", "{}"])
    def test_single_expression_keeps_string(self, text: str) -> None:
        # A string variable stays a string even when it reads like a Python literal: an alias
        # 007 or a connector named True must reach Exchange as written.
        assert _render("{{ value }}", {"value": text}) == text
        assert _render(["{{ value }}"], {"value": text}) == [text]

    def test_leading_whitespace_keeps_list(self) -> None:
        assert _render("  {{ printer_subnets }}") == ["10.1.0.0/24", "10.2.0.0/24"]

    def test_mixed_text_gives_string(self) -> None:
        assert _render("ranges: {{ printer_subnets }}") == "ranges: ['10.1.0.0/24', '10.2.0.0/24']"
        assert _render("{{ port }}{{ port }}") == "2525"

    def test_plain_string_unchanged(self) -> None:
        assert _render("no template here") == "no template here"

    def test_nested_structures(self) -> None:
        value = {"a": ["{{ port }}", {"b": "{{ server | lower }}"}], "c": 7, "d": None}

        assert _render(value) == {"a": [25, {"b": "ex01"}], "c": 7, "d": None}

    def test_variable_holding_template(self) -> None:
        assert _render("{{ connector_name }}") == "Relay EX01"

    def test_statement_block(self) -> None:
        assert _render("{% if port == 25 %}smtp{% endif %}") == "smtp"

    def test_undefined_suggests_close_name(self) -> None:
        error = _render_error("{{ printer_subnet }}")

        assert str(error) == (
            "site.yml:9:7: variable printer_subnet is undefined in '{{ printer_subnet }}'; "
            "did you mean printer_subnets?"
        )

    def test_undefined_in_mixed_text(self) -> None:
        error = _render_error("ranges {{ printer_subnet }}")

        assert error.message == (
            "variable printer_subnet is undefined in 'ranges {{ printer_subnet }}'; "
            "did you mean printer_subnets?"
        )

    def test_undefined_without_close_name(self) -> None:
        error = _render_error("{{ zzz }}")

        assert error.message == (
            "variable zzz is undefined in '{{ zzz }}'; set it in the play's vars, in the "
            "inventory, or with -e zzz=VALUE"
        )

    def test_missing_attribute(self) -> None:
        error = _render_error("{{ settings.port }}", {"settings": {}})

        assert error.message == "'dict object' has no attribute 'port' in '{{ settings.port }}'"

    def test_syntax_error(self) -> None:
        error = _render_error("{{ port")

        assert error.message == (
            "invalid template '{{ port': unexpected end of template, expected "
            "'end of print statement'."
        )

    def test_unknown_filter(self) -> None:
        error = _render_error("{{ port | nosuchfilter }}")

        assert error.message == (
            "invalid template '{{ port | nosuchfilter }}': No filter named 'nosuchfilter'."
        )

    def test_location_from_path(self) -> None:
        seen: list[tuple[Any, ...]] = []

        def locate(path: tuple[Any, ...]) -> SourceLocation:
            seen.append(path)
            return SourceLocation("site.yml", len(path))

        with pytest.raises(ConfigError) as caught:
            render({"a": [1, "{{ missing }}"]}, {}, locate)

        assert seen[-1] == ("a", 1)
        assert caught.value.location == SourceLocation("site.yml", 2)


class TestSandbox:
    @pytest.mark.parametrize(
        ("template", "blocked"),
        [
            ("{{ ''.__class__ }}", "access to attribute '__class__' of 'str' object is unsafe."),
            (
                "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                "access to attribute '__class__' of 'str' object is unsafe.",
            ),
            ("{{ port.__class__ }}", "access to attribute '__class__' of 'int' object is unsafe."),
            (
                "x {{ server.__init__.__globals__ }}",
                "access to attribute '__init__' of 'str' object is unsafe.",
            ),
        ],
    )
    def test_internals_blocked(self, template: str, blocked: str) -> None:
        error = _render_error(template)

        assert error.message == f"invalid template {template!r}: {blocked}"

    def test_mutating_method_blocked(self) -> None:
        variables = {"ranges": ["10.0.0.0/8"]}

        with pytest.raises(ConfigError, match="unsafe"):
            _render("{{ ranges.append('0.0.0.0/0') }}", variables)
        assert variables["ranges"] == ["10.0.0.0/8"]

    def test_large_range_is_config_error(self) -> None:
        with pytest.raises(ConfigError):
            _render("{{ range(10**8) | list | length }}")

    def test_division_by_zero_is_config_error(self) -> None:
        with pytest.raises(ConfigError):
            _render("{{ port / 0 }}")

    def test_self_reference_is_config_error(self) -> None:
        with pytest.raises(ConfigError):
            _render("{{ loop }}", {"loop": "{{ loop }}"})


class TestExtraVars:
    def test_key_value_pairs(self) -> None:
        result = parse_extra_vars(["server=EX01 port=25", "empty=", "eq=a=b"])

        assert result == {"server": "EX01", "port": "25", "empty": "", "eq": "a=b"}

    def test_json_object(self) -> None:
        result = parse_extra_vars(['{"ranges": ["10.0.0.0/24"], "port": 25}'])

        assert result == {"ranges": ["10.0.0.0/24"], "port": 25}

    def test_later_values_win(self) -> None:
        assert parse_extra_vars(["a=1", '{"a": 2}', "a=3"]) == {"a": "3"}

    def test_from_file(self, tmp_path: Path) -> None:
        path = tmp_path / "vars.yml"
        path.write_text("ranges:\n  - 10.0.0.0/24\nport: 25\n", encoding="utf-8")

        assert parse_extra_vars([f"@{path}"]) == {"ranges": ["10.0.0.0/24"], "port": 25}

    def test_file_not_mapping(self, tmp_path: Path) -> None:
        path = tmp_path / "vars.yml"
        path.write_text("- a\n", encoding="utf-8")

        with pytest.raises(ConfigError) as caught:
            parse_extra_vars([f"@{path}"])

        assert str(caught.value) == f"extra vars file {path} must contain a mapping"

    def test_file_missing(self, tmp_path: Path) -> None:
        path = tmp_path / "absent.yml"

        with pytest.raises(ConfigError) as caught:
            parse_extra_vars([f"@{path}"])

        assert str(caught.value) == f"file not found: {path}"

    def test_invalid_json(self) -> None:
        with pytest.raises(ConfigError) as caught:
            parse_extra_vars(["{port: 25}"])

        assert str(caught.value) == (
            "invalid JSON in --extra-vars '{port: 25}': Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)"
        )

    def test_json_trailing_text(self) -> None:
        with pytest.raises(ConfigError) as caught:
            parse_extra_vars(['{"a": 1} b=2'])

        assert str(caught.value) == (
            "invalid JSON in --extra-vars '{\"a\": 1} b=2': Extra data: line 1 column 10 (char 9)"
        )

    def test_quoted_value_with_spaces(self) -> None:
        assert parse_extra_vars(["msg='hello world' n=1"]) == {"msg": "hello world", "n": "1"}

    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            ("port", "'port'"),
            ("1x=2", "'1x=2'"),
            ("=v", "'=v'"),
            (" port ", "' port '"),
            ("a=1 port", "'a=1 port' ('port' is not name=value)"),
        ],
    )
    def test_invalid_pair(self, value: str, shown: str) -> None:
        with pytest.raises(ConfigError) as caught:
            parse_extra_vars([value])

        assert str(caught.value) == (
            f"invalid --extra-vars {shown}: expected name=value, @file.yml or JSON"
        )


class _Binding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    port: int = 25


class _RelayArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    port: int = 25
    remote_ip_ranges: list[str]
    enabled: bool = True
    bindings: list[_Binding] = []


TASKS = """\
- hosts: all
  vars:
    printer_subnets: [10.1.0.0/24]
    port: 2525
  tasks:
    - name: relay
      relay_connector:
        name: Relay
        port: "{{ port }}"
        remote_ip_ranges: "{{ printer_subnets }}"
    - name: bad values
      relay_connector:
        name: Relay
        remote_ip_ranges: [10.0.0.1]
        enabled: maybe
    - name: undefined
      relay_connector:
        name: Relay
        remote_ip_ranges:
          - 10.0.0.1
          - "{{ printer_subnet }}"
    - name: nested typo
      relay_connector:
        name: Relay
        remote_ip_ranges: []
        bindings:
          - address: 0.0.0.0
            prot: 25
    - name: task vars
      vars: {port: 587}
      relay_connector:
        name: Relay
        port: "{{ port }}"
        remote_ip_ranges: []
"""


@pytest.fixture
def relay_tasks(tmp_path: Path) -> tuple[dict[str, Any], dict[str, TaskSpec]]:
    path = tmp_path / "site.yml"
    path.write_text(dedent(TASKS), encoding="utf-8")
    [play] = load_playbook(path).plays
    return play.vars, {task.name: task for task in play.tasks}


def _task_errors(
    relay_tasks: tuple[dict[str, Any], dict[str, TaskSpec]], name: str
) -> list[ConfigError]:
    variables, tasks = relay_tasks
    with pytest.raises(ConfigErrors) as caught:
        validate_task_args(tasks[name], _RelayArgs, variables)
    return caught.value.errors


class TestValidateTaskArgs:
    def test_rendered_and_validated(
        self, relay_tasks: tuple[dict[str, Any], dict[str, TaskSpec]]
    ) -> None:
        variables, tasks = relay_tasks

        args = validate_task_args(tasks["relay"], _RelayArgs, variables)

        assert isinstance(args, _RelayArgs)
        assert args.port == 2525
        assert args.remote_ip_ranges == ["10.1.0.0/24"]

    def test_task_vars_override_play_vars(
        self, relay_tasks: tuple[dict[str, Any], dict[str, TaskSpec]]
    ) -> None:
        variables, tasks = relay_tasks

        args = validate_task_args(tasks["task vars"], _RelayArgs, variables)

        assert isinstance(args, _RelayArgs)
        assert args.port == 587

    def test_error_at_argument_line(
        self, relay_tasks: tuple[dict[str, Any], dict[str, TaskSpec]]
    ) -> None:
        [error] = _task_errors(relay_tasks, "bad values")

        assert error.location is not None
        assert (error.location.line, error.location.column) == (15, 9)
        assert error.message == (
            "relay_connector ('bad values'): enabled: Input should be a valid boolean, "
            "unable to interpret input (got 'maybe')"
        )

    def test_undefined_variable_at_item_line(
        self, relay_tasks: tuple[dict[str, Any], dict[str, TaskSpec]]
    ) -> None:
        variables, tasks = relay_tasks

        with pytest.raises(ConfigError) as caught:
            validate_task_args(tasks["undefined"], _RelayArgs, variables)

        assert caught.value.location is not None
        assert (caught.value.location.line, caught.value.location.column) == (21, 13)
        assert caught.value.message == (
            "variable printer_subnet is undefined in '{{ printer_subnet }}'; "
            "did you mean printer_subnets?"
        )

    def test_nested_unknown_field_located(
        self, relay_tasks: tuple[dict[str, Any], dict[str, TaskSpec]]
    ) -> None:
        [error] = _task_errors(relay_tasks, "nested typo")

        assert error.location is not None
        assert (error.location.line, error.location.column) == (28, 13)
        assert error.message.startswith(
            "relay_connector ('nested typo'): unknown field bindings.0.prot"
        )

    def test_nested_unknown_field_suggests(
        self, relay_tasks: tuple[dict[str, Any], dict[str, TaskSpec]]
    ) -> None:
        [error] = _task_errors(relay_tasks, "nested typo")

        assert error.message == (
            "relay_connector ('nested typo'): unknown field bindings.0.prot (did you mean 'port'?)"
        )

    def test_missing_required_argument(self, tmp_path: Path) -> None:
        path = tmp_path / "site.yml"
        path.write_text("- hosts: all\n  tasks:\n    - relay_connector: {name: R}\n")
        [play] = load_playbook(path).plays

        with pytest.raises(ConfigErrors) as caught:
            validate_task_args(play.tasks[0], _RelayArgs, {})

        [error] = caught.value.errors
        assert str(error) == (
            f"{path}:3:7: relay_connector ('relay_connector'): remote_ip_ranges is required"
        )

    def test_non_string_variable_name(self, tmp_path: Path) -> None:
        path = tmp_path / "site.yml"
        path.write_text(
            "- hosts: all\n  vars:\n    1: one\n  tasks:\n    - relay_connector:\n"
            '        name: "{{ x }}"\n        remote_ip_ranges: []\n'
        )

        def load_and_validate() -> None:
            # The fix may reject the name when loading or when rendering: either is a ConfigError.
            [play] = load_playbook(path).plays
            validate_task_args(play.tasks[0], _RelayArgs, {**play.vars, "x": "v"})

        with pytest.raises(ConfigError):
            load_and_validate()

    def test_model_validator_error_located_at_each_value(self, tmp_path: Path) -> None:
        # relay_connector checks its ranges in a model validator (the guards depend on other
        # arguments); each bad range is still reported at its own line, once.
        path = tmp_path / "site.yml"
        path.write_text(
            "- hosts: all\n  tasks:\n    - relay_connector:\n        server: EX01\n"
            "        name: Relay\n        remote_ip_ranges:\n          - 10.0.5.20\n"
            "          - 10.0.5.300\n          - 8.8.8.8\n"
        )
        [play] = load_playbook(path).plays

        with pytest.raises(ConfigErrors) as caught:
            validate_task_args(play.tasks[0], RelayConnectorArgs, {})

        [first, second] = caught.value.errors
        assert first.location is not None
        assert second.location is not None
        assert (first.location.line, second.location.line) == (8, 9)
        assert first.message.startswith(
            "relay_connector ('relay_connector'): remote_ip_ranges.1: remote IP range "
            "'10.0.5.300' is invalid"
        )
        assert second.message == (
            "relay_connector ('relay_connector'): remote_ip_ranges.2: remote IP range '8.8.8.8' "
            "contains public internet addresses (8.8.8.8); set allow_public_ranges: true if this "
            "is intended"
        )

    def test_string_for_a_list_names_the_variable(self, tmp_path: Path) -> None:
        # -e name=value always gives a string, so a list variable needs the JSON form.
        path = tmp_path / "site.yml"
        path.write_text(
            "- hosts: all\n  tasks:\n    - relay_connector:\n        server: EX01\n"
            "        name: Relay\n        remote_ip_ranges: '{{ device_subnets }}'\n"
        )
        [play] = load_playbook(path).plays

        with pytest.raises(ConfigErrors) as caught:
            validate_task_args(play.tasks[0], RelayConnectorArgs, {"device_subnets": "10.0.7.5"})

        [error] = caught.value.errors
        assert error.message.endswith(
            "remote_ip_ranges: Input should be a valid list (got '10.0.7.5'); device_subnets "
            'must be a list: -e \'{"device_subnets": ["10.0.7.5"]}\' on the command line'
        )
