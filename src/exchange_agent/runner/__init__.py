"""The run: validate everything first, then hosts in parallel and tasks in order."""

from exchange_agent.runner.orchestrate import RunRequest, run_playbook
from exchange_agent.runner.results import RunReport, TaskRecord
from exchange_agent.runner.run import Runner, RunOptions

__all__ = ["RunOptions", "RunReport", "RunRequest", "Runner", "TaskRecord", "run_playbook"]
