"""Exchange certificates: request names, file parsing, and checks of issued certificates."""

from exchange_agent.certificates.checks import (
    MIN_KEY_SIZE,
    CertificateCheckError,
    check_issued_certificate,
    select_issued_certificate,
)
from exchange_agent.certificates.facts import (
    CertificateFacts,
    CertificateFileError,
    RequestFacts,
    certificate_facts,
    load_certificates,
    load_request,
    request_facts,
)
from exchange_agent.certificates.names import (
    AcceptedDomainInfo,
    derive_domain_names,
    normalise_host,
)

__all__ = [
    "MIN_KEY_SIZE",
    "AcceptedDomainInfo",
    "CertificateCheckError",
    "CertificateFacts",
    "CertificateFileError",
    "RequestFacts",
    "certificate_facts",
    "check_issued_certificate",
    "derive_domain_names",
    "load_certificates",
    "load_request",
    "normalise_host",
    "request_facts",
    "select_issued_certificate",
]
