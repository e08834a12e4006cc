"""SPF readiness of direct-send devices: per-address results and the record change to make.

Evaluation is pyspf's, and DNS goes only to the servers of an :class:`SpfResolver`.
"""

from exchange_agent.spf.audit import (
    MAX_DNS_LOOKUPS,
    SpfReport,
    SpfResult,
    SpfVerdict,
    check_direct_send,
    describe_failures,
    evaluate_spf,
)
from exchange_agent.spf.resolver import SpfResolver, use_resolver

__all__ = [
    "MAX_DNS_LOOKUPS",
    "SpfReport",
    "SpfResolver",
    "SpfResult",
    "SpfVerdict",
    "check_direct_send",
    "describe_failures",
    "evaluate_spf",
    "use_resolver",
]
