"""Import every built-in task module so that each registers itself."""

from exchange_agent.tasks import receive_connector, service  # noqa: F401
