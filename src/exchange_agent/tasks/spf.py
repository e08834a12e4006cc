"""The ``spf`` task: check that a domain's SPF policy authorises every direct-send device."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from exchange_agent.errors import ConfigError, ConfigErrors
from exchange_agent.spf import SpfResolver, describe_failures, evaluate_spf
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Status, Task, TaskArgs, TaskContext, TaskResult


class SpfArgs(TaskArgs):
    """Arguments of :class:`SpfTask`."""

    domain: str = Field(min_length=1, description="Sender (MAIL FROM) domain of the devices.")
    addresses: list[str] = Field(
        min_length=1, description="IPv4 or IPv6 addresses the devices send from."
    )
    nameservers: list[str] = Field(
        min_length=1, description="IP addresses of the DNS servers to ask; no other is used."
    )
    port: int = Field(53, ge=1, le=65535, description="DNS port of the nameservers.")
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds one DNS query may take.")
    fail_on_drift: bool = Field(
        True, description="Fail when an address does not pass; false reports warnings only."
    )

    @field_validator("addresses", "nameservers")
    @classmethod
    def _check_addresses(cls, values: list[str]) -> list[str]:
        # Checked here so that a bad address is a playbook error, not a failure per host.
        errors = []
        for index, value in enumerate(values):
            try:
                ipaddress.ip_address(value.strip())
            except ValueError:
                errors.append(ConfigError(f"{value!r} is not an IP address", path=(index,)))
        if errors:
            raise ConfigErrors(errors)
        return values


@register
class SpfTask(Task[SpfArgs]):
    """Evaluate the domain's SPF record for each device address and propose the fix.

    Devices that use direct send (no authentication, internal recipients only) are judged by
    SPF when a spam filter enforces it. For each address the task reports the SPF result
    (pass, fail, softfail, neutral, none, permerror, temperror), the term that decided it, and
    the ``ip4:``/``ip6:`` entry to add before the ``all`` mechanism. The evaluation respects
    SPF's limit of 10 DNS-querying terms (RFC 7208 section 4.6.4). The task only reads DNS,
    so it needs no Exchange endpoint and never changes anything.

    Example:
        .. code-block:: yaml

            - name: scanners may send as contoso.com
              spf:
                domain: contoso.com
                addresses: [192.0.2.25, "2001:db8::25"]
                nameservers: [10.0.0.10]
    """

    name = "spf"
    args_model = SpfArgs
    endpoints = ()

    def run(self, ctx: TaskContext) -> TaskResult:
        """Evaluate every address and fail (or warn) when one does not pass."""
        args = self.args
        resolver = SpfResolver(tuple(args.nameservers), port=args.port, timeout=args.timeout)
        report = evaluate_spf(args.domain, args.addresses, resolver)
        data = report.to_dict()

        if report.passed:
            message = f"SPF of {report.domain} passes all {len(report.verdicts)} addresses"
            return TaskResult("ok", message, data=data)

        findings = describe_failures(report)
        message = (
            f"SPF of {report.domain} does not pass {len(report.failures)} of "
            f"{len(report.verdicts)} addresses"
        )
        if report.proposed_record:
            message += f"; proposed record: {report.proposed_record}"
        status: Status = "failed" if args.fail_on_drift else "ok"
        return TaskResult(status, message, warnings=findings, data=data)
