"""Import every built-in task module so that each registers itself."""

from exchange_agent.tasks import receive_connector, service  # noqa: F401
from exchange_agent.tasks import ad_permission, relay_audit, relay_connector  # noqa: F401
from exchange_agent.tasks import audit_autodiscover, autodiscover_scp  # noqa: F401
from exchange_agent.tasks import virtual_directories  # noqa: F401
