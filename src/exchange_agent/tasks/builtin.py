"""Import every built-in task module so that each registers itself."""

from exchange_agent.tasks import (  # noqa: F401
    ad_permission,
    audit_autodiscover,
    autodiscover_scp,
    certificate_import,
    certificate_request,
    email_domain,
    receive_connector,
    relay_audit,
    relay_connector,
    service,
    spf,
    virtual_directories,
)
