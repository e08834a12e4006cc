"""Runner behaviour with small test tasks: handlers, check mode, failures, tags, interrupts."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import pytest

from exchange_agent.config import load_inventory, load_playbook
from exchange_agent.errors import ConfigErrors, TaskError
from exchange_agent.remote.connections import HostConnections
from exchange_agent.remote.errors import AuthenticationError
from exchange_agent.runner.prepare import prepare
from exchange_agent.runner.run import Runner, RunOptions
from exchange_agent.tasks import _REGISTRY, registry
from exchange_agent.tasks.base import Task, TaskArgs, TaskContext, TaskResult

CALLS: list[tuple[str, str, bool]] = []


class StepArgs(TaskArgs):
    outcome: str = "ok"
    label: str = ""


class StepTask(Task[StepArgs]):
    """A task whose outcome the playbook chooses; it records each call."""

    name = "test_step"
    args_model = StepArgs
    endpoints: ClassVar[tuple] = ()

    def run(self, ctx: TaskContext) -> TaskResult:
        CALLS.append((ctx.host, self.args.label, ctx.check_mode))
        if self.args.outcome == "fail":
            raise TaskError(f"{self.args.label} failed on purpose")
        if self.args.outcome == "unreachable":
            raise AuthenticationError("credentials rejected", host=ctx.host)
        if self.args.outcome == "interrupt":
            raise KeyboardInterrupt
        return TaskResult(self.args.outcome, self.args.label)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def step_task():
    registry()
    _REGISTRY[StepTask.name] = StepTask
    CALLS.clear()
    yield
    _REGISTRY.pop(StepTask.name, None)


@pytest.fixture
def files(tmp_path: Path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "groups:\n  exchange: {hosts: [ex01, ex02]}\n"
        "hosts:\n  ex01: {fqdn: ex01.contoso.com}\n  ex02: {fqdn: ex02.contoso.com}\n",
        encoding="utf-8",
    )

    def build(playbook_text: str, **options):
        playbook = tmp_path / "playbook.yml"
        playbook.write_text(playbook_text, encoding="utf-8")
        plans = prepare(
            load_inventory(inventory),
            load_playbook(playbook),
            limit=options.pop("limit", None),
            extra_vars={},
            tags=frozenset(options.pop("tags", ())),
            skip_tags=frozenset(options.pop("skip_tags", ())),
        )
        closed: list[str] = []

        def connect(host):
            connections = HostConnections(host.name, {}, lambda *_: None)
            original = connections.close_all

            def close_all() -> None:
                closed.append(host.name)
                original()

            connections.close_all = close_all  # type: ignore[method-assign]
            return connections

        runner = Runner(plans, RunOptions(**options), connect, None)
        return runner, closed

    return build


PLAY = """
- hosts: all
  tasks:
    - name: first
      test_step: {outcome: "{{ first | default('changed') }}", label: first}
      notify: handler one
    - name: second
      test_step: {outcome: ok, label: second}
      tags: [later]
  handlers:
    - name: handler one
      test_step: {outcome: changed, label: handler}
"""


def statuses(report, host):
    return [(r.task, r.status, r.handler) for r in report.records if r.host == host]


def test_handler_runs_once_after_change(files):
    runner, closed = files(PLAY)
    report = runner.run()
    assert statuses(report, "ex01") == [
        ("first", "changed", False),
        ("second", "ok", False),
        ("handler one", "changed", True),
    ]
    assert sorted(set(closed)) == ["ex01", "ex02"]


def test_handler_skipped_without_change(files):
    runner, _ = files(PLAY.replace("default('changed')", "default('ok')"))
    report = runner.run()
    assert [r.handler for r in report.records] == [False, False, False, False]


def test_check_mode_reaches_tasks(files):
    runner, _ = files(PLAY, check=True)
    runner.run()
    assert all(check for _, _, check in CALLS)


def test_failure_stops_host_not_others(files):
    playbook = """
- hosts: all
  tasks:
    - test_step: {outcome: "{{ 'fail' if inventory_hostname == 'ex02' else 'changed' }}", label: a}
      notify: h
    - test_step: {outcome: ok, label: b}
  handlers:
    - name: h
      test_step: {outcome: changed, label: h}
"""
    runner, closed = files(playbook)
    report = runner.run()
    assert [r.status for r in report.records if r.host == "ex01"] == ["changed", "ok", "changed"]
    assert [r.status for r in report.records if r.host == "ex02"] == ["failed"]
    failed = next(r for r in report.records if r.host == "ex02")
    assert failed.message == "a failed on purpose"
    assert sorted(set(closed)) == ["ex01", "ex02"]


def test_force_handlers_after_failure(files):
    playbook = """
- hosts: ex01
  tasks:
    - test_step: {outcome: changed, label: a}
      notify: h
    - test_step: {outcome: fail, label: b}
  handlers:
    - name: h
      test_step: {outcome: changed, label: h}
"""
    runner, _ = files(playbook, force_handlers=True)
    report = runner.run()
    assert [(r.status, r.handler) for r in report.records] == [
        ("changed", False),
        ("failed", False),
        ("changed", True),
    ]


def test_unreachable_skips_rest_of_host(files):
    playbook = """
- hosts: ex01
  tasks:
    - test_step: {outcome: unreachable, label: a}
    - test_step: {outcome: ok, label: b}
"""
    runner, _ = files(playbook)
    report = runner.run()
    assert [r.status for r in report.records] == ["unreachable"]
    assert report.unreachable == {"ex01"}


def test_tags_select_tasks(files):
    runner, _ = files(PLAY, tags=["later"])
    report = runner.run()
    assert [r.task for r in report.records if r.host == "ex01"] == ["second"]


def test_skip_tags(files):
    runner, _ = files(PLAY, skip_tags=["later"])
    report = runner.run()
    assert "second" not in [r.task for r in report.records]


def test_limit_with_exclusion(files):
    runner, _ = files(PLAY, limit="all:!ex02")
    report = runner.run()
    assert {r.host for r in report.records} == {"ex01"}


def test_invalid_argument_found_before_running(files):
    playbook = """
- hosts: all
  tasks:
    - test_step: {outcome: ok, label: fine}
    - test_step: {outcome: ok, colour: blue}
"""
    with pytest.raises(ConfigErrors, match="unknown field colour"):
        files(playbook)
    assert CALLS == []


def test_interrupt_stops_new_tasks_and_closes_sessions(files):
    playbook = """
- hosts: all
  tasks:
    - test_step: {outcome: ok, label: a}
    - test_step: {outcome: ok, label: b}
"""
    runner, closed = files(playbook, forks=1)
    runner.stop.set()
    report = runner.run()
    assert report.records == []
    assert sorted(set(closed)) == ["ex01", "ex02"]


def test_forks_bound_parallel_hosts(files):
    playbook = """
- hosts: all
  tasks:
    - test_step: {outcome: ok, label: a}
"""
    runner, _ = files(playbook, forks=1)
    seen: list[str] = []
    original = runner._run_host

    def tracking(plan):
        seen.append(threading.current_thread().name)
        original(plan)

    runner._run_host = tracking  # type: ignore[method-assign]
    runner.run()
    assert len(set(seen)) == 1
