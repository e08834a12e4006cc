"""Playbook loading: plays, tasks, handlers and structural errors located in the file."""

from pathlib import Path
from textwrap import dedent

import pytest

from exchange_agent.config import Playbook, load_playbook
from exchange_agent.errors import ConfigError, ConfigErrors, SourceLocation

ACTIONS = ["relay_connector", "accepted_domain", "service"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str, known: list[str] | None = ACTIONS) -> Playbook:
    return load_playbook(_write(tmp_path, text), known)


def _errors(tmp_path: Path, text: str, known: list[str] | None = ACTIONS) -> list[str]:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigErrors) as caught:
        load_playbook(path, known)
    return [str(error).removeprefix(f"{path}:") for error in caught.value.errors]


VALID = """\
- name: relay for printers
  hosts: mailbox
  vars:
    printer_subnets: [10.1.0.0/24]
  tasks:
    - name: relay connector
      relay_connector:
        name: Printers
      notify: restart transport
      tags: [relay, smtp]
      vars: {port: 25}
    - accepted_domain:
  handlers:
    - name: restart transport
      service: {name: MSExchangeTransport, state: restarted}
"""


class TestValid:
    def test_structure(self, tmp_path: Path) -> None:
        playbook = _load(tmp_path, VALID)

        [play] = playbook.plays
        assert play.name == "relay for printers"
        assert play.hosts == "mailbox"
        assert play.vars == {"printer_subnets": ["10.1.0.0/24"]}
        assert play.location == SourceLocation(playbook.path, 1, 3)
        first, second = play.tasks
        assert first.name == "relay connector"
        assert first.action == "relay_connector"
        assert first.args == {"name": "Printers"}
        assert first.notify == ("restart transport",)
        assert first.tags == ("relay", "smtp")
        assert first.vars == {"port": 25}
        assert first.location == SourceLocation(playbook.path, 6, 7)
        assert second.name == "accepted_domain"
        assert second.args == {}
        assert second.notify == ()
        [handler] = play.handlers
        assert handler.action == "service"

    def test_arg_location(self, tmp_path: Path) -> None:
        playbook = _load(tmp_path, VALID)

        task = playbook.plays[0].tasks[0]
        assert task.arg_location("name") == SourceLocation(playbook.path, 8, 9)
        assert task.arg_location("absent") == SourceLocation(playbook.path, 7, 7)

    def test_play_name_defaults_to_hosts(self, tmp_path: Path) -> None:
        playbook = _load(tmp_path, "- hosts: all\n  tasks:\n    - service: {}\n")

        assert playbook.plays[0].name == "all"

    def test_actions_unchecked_without_known(self, tmp_path: Path) -> None:
        playbook = _load(tmp_path, "- hosts: all\n  tasks:\n    - anything: {}\n", known=None)

        assert playbook.plays[0].tasks[0].action == "anything"

    def test_single_name_notify_and_tags(self, tmp_path: Path) -> None:
        playbook = _load(
            tmp_path,
            """\
            - hosts: all
              tasks:
                - service: {}
                  notify: h
                  tags: relay
              handlers:
                - name: h
                  service: {}
            """,
        )

        task = playbook.plays[0].tasks[0]
        assert task.notify == ("h",)
        assert task.tags == ("relay",)


class TestFileErrors:
    def test_bad_yaml_syntax(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "- hosts: all\n  tasks: [\n")

        with pytest.raises(ConfigError) as caught:
            load_playbook(path)

        assert str(caught.value) == (
            f"{path}:3:1: invalid YAML: expected the node content, but found '<stream end>'"
        )

    def test_duplicate_key_in_task(self, tmp_path: Path) -> None:
        path = _write(
            tmp_path,
            """\
            - hosts: all
              tasks:
                - relay_connector:
                    name: A
                    name: B
            """,
        )

        with pytest.raises(ConfigError) as caught:
            load_playbook(path)

        assert str(caught.value) == (
            f'{path}:5:9: duplicate key: duplicate key "name" with value "B" '
            '(original value: "A"); each key may appear once in a mapping'
        )

    @pytest.mark.parametrize("text", ["", "[]\n", "hosts: all\n", "just text\n"])
    def test_not_list_of_plays(self, tmp_path: Path, text: str) -> None:
        path = _write(tmp_path, text)

        with pytest.raises(ConfigError) as caught:
            load_playbook(path)

        assert str(caught.value) == f"{path}:1:1: a playbook must be a non-empty list of plays"


class TestPlayErrors:
    def test_unknown_play_keyword(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  hots: x\n  tasks:\n    - service: {}\n")

        assert errors == ["2:3: unknown play keyword 'hots' (did you mean 'hosts'?)"]

    def test_unknown_play_keyword_without_match(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  become: true\n  tasks:\n    - service: {}\n")

        assert errors == ["2:3: unknown play keyword 'become'"]

    def test_empty_play(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n- hosts: all\n  tasks: []\n")

        assert errors == ["1:3: play has no tasks", "2:3: play has no tasks"]

    @pytest.mark.parametrize("hosts", ['""', "5", "[a, b]", "null"])
    def test_play_needs_hosts(self, tmp_path: Path, hosts: str) -> None:
        errors = _errors(tmp_path, f"- hosts: {hosts}\n  tasks:\n    - service: {{}}\n")

        assert errors == ["1:3: play needs hosts: a host pattern such as all"]

    def test_play_not_mapping(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- all\n")

        assert errors == ["1:3: a play must be a mapping with hosts and tasks"]

    def test_tasks_not_list(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  tasks: {service: {}}\n")

        assert errors[0] == "2:3: tasks must be a list"

    def test_play_vars_not_mapping(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  vars: [1]\n  tasks:\n    - service: {}\n")

        assert errors == ["2:3: vars must be a mapping"]


class TestTaskErrors:
    def test_two_task_types(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            - hosts: all
              tasks:
                - name: both
                  relay_connector: {}
                  accepted_domain: {}
                - service: {}
            """,
        )

        assert errors == [
            "3:7: a task needs exactly one task type; found: relay_connector, accepted_domain"
        ]

    def test_no_task_type(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "- hosts: all\n  tasks:\n    - name: nothing\n      tags: x\n    - service: {}\n",
        )

        assert errors == ["3:7: a task needs exactly one task type; found: none"]

    def test_two_types_with_typo_suggests(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "- hosts: all\n  tasks:\n    - relay_conector: {}\n      sevice: {}\n"
            "    - service: {}\n",
        )

        assert errors == [
            "3:7: a task needs exactly one task type; found: relay_conector, sevice "
            "(did you mean 'relay_connector'?) (did you mean 'service'?)"
        ]

    def test_unknown_task_suggests(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "- hosts: all\n  tasks:\n    - name: typo\n      relay_conector: {}\n"
            "    - service: {}\n",
        )

        assert errors == ["4:7: unknown task 'relay_conector' (did you mean 'relay_connector'?)"]

    def test_unknown_task_without_match(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  tasks:\n    - zzz: {}\n    - service: {}\n")

        assert errors == ["3:7: unknown task 'zzz'"]

    def test_invalid_task_no_empty_play_error(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  tasks:\n    - zzz: {}\n")

        assert errors == ["3:7: unknown task 'zzz'"]

    def test_task_not_mapping(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  tasks:\n    - service\n    - service: {}\n")

        assert errors == ["3:7: a task must be a mapping with one task type"]

    def test_arguments_not_mapping(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "- hosts: all\n  tasks:\n    - service: [a]\n    - service:\n")

        assert errors == ["3:7: service arguments must be a mapping"]

    def test_bad_notify_tags_vars(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            - hosts: all
              tasks:
                - service: {}
                  tags: {a: 1}
                  notify: [1]
                  vars: [1]
            """,
        )

        assert errors == [
            "5:7: notify must be a name or a list of names",
            "4:7: tags must be a name or a list of names",
            "6:7: vars must be a mapping",
        ]

    def test_notify_missing_handler_suggests(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            - hosts: all
              tasks:
                - name: relay
                  service: {}
                  notify: [restart transport]
              handlers:
                - name: restart transprt
                  service: {}
            """,
        )

        assert errors == [
            "5:7: task 'relay' notifies 'restart transport', which is not a handler of this "
            "play (did you mean 'restart transprt'?)"
        ]

    def test_notify_handler_of_other_play(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            - hosts: all
              tasks:
                - service: {}
                  notify: h
            - hosts: all
              handlers:
                - name: h
                  service: {}
            """,
        )

        assert errors == ["4:7: task 'service' notifies 'h', which is not a handler of this play"]

    def test_every_error_reported(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            - hosts: all
              tasks:
                - zzz: {}
                - service: {}
            - hots: all
            """,
        )

        assert errors == [
            "3:7: unknown task 'zzz'",
            "5:3: unknown play keyword 'hots' (did you mean 'hosts'?)",
            "5:3: play needs hosts: a host pattern such as all",
            "5:3: play has no tasks",
        ]
