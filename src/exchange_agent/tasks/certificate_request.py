"""The ``certificate_request`` task: create a certificate signing request on a named server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import Field, field_validator

from exchange_agent.certificates import (
    MIN_KEY_SIZE,
    AcceptedDomainInfo,
    CertificateFileError,
    derive_domain_names,
    load_request,
    normalise_host,
    request_facts,
)
from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command, Pipeline, Switch
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.result import ExObject
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Change, Task, TaskArgs, TaskContext, TaskResult

# The properties the certificate tasks read. Over remote PowerShell Get-ExchangeCertificate
# objects arrive with RawData only, so a Select-Object projection carries the rest.
# NOTE: that Exchange's endpoint serializes Services and CertificateRequest this way is
# unverified on a real server.
CERTIFICATE_PROPERTIES = [
    "Thumbprint",
    "Subject",
    "CertificateDomains",
    "Services",
    "Status",
    "CertificateRequest",
    "HasPrivateKey",
    "PrivateKeyExportable",
    "NotAfter",
]


class CertificateRequestArgs(TaskArgs):
    """Arguments of :class:`CertificateRequestTask`."""

    server: str = Field(min_length=1, description="Exchange server that keeps the private key.")
    request_file: str = Field(min_length=1, description="Local file the request is written to.")
    namespaces: list[str] = Field(
        default_factory=list, description="Client namespaces, such as mail.contoso.com."
    )
    include_autodiscover: bool = Field(
        True, description="Add autodiscover.<domain> for each authoritative accepted domain."
    )
    domain_names: list[str] | None = Field(
        None, description="The complete SAN list; replaces the derived names when given."
    )
    subject_name: str | None = Field(
        None, description="X.500 subject such as 'C=US, O=Contoso, CN=mail.contoso.com'."
    )
    key_size: int = Field(2048, description="RSA key size in bits: 2048 or 4096.")
    renew: bool = Field(
        False,
        description="Request a new certificate even when the server already has a valid one "
        "for the names.",
    )
    renew_days: int = Field(
        30,
        ge=0,
        le=365,
        description="An installed certificate that expires within this many days is renewed.",
    )

    @field_validator("key_size")
    @classmethod
    def _check_key_size(cls, value: int) -> int:
        if value not in (MIN_KEY_SIZE, 4096):
            raise ValueError(
                f"key_size must be {MIN_KEY_SIZE} or 4096 bits, found {value}; keys under "
                f"{MIN_KEY_SIZE} bits are rejected"
            )
        return value

    @field_validator("namespaces", "domain_names")
    @classmethod
    def _check_names(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [normalise_host(value) for value in values]


@register
class CertificateRequestTask(Task[CertificateRequestArgs]):
    """Generate a certificate signing request on a server and save it to a local file.

    The SAN list is the configured namespaces plus ``autodiscover.<domain>`` for every
    authoritative accepted domain (read with ``Get-AcceptedDomain``), unless ``domain_names``
    gives it in full. The request is created with ``New-ExchangeCertificate -GenerateRequest``
    with an exportable private key of at least 2048 bits, which stays on the server. A pending
    request on that server with the same names is reused: its text is written to the file
    and no new request is created.

    Example:
        .. code-block:: yaml

            - name: request the client access certificate
              certificate_request:
                server: EX01
                namespaces: [mail.contoso.com]
                subject_name: "C=US, O=Contoso, CN=mail.contoso.com"
                request_file: requests/mail.contoso.com.req
    """

    name = "certificate_request"
    args_model = CertificateRequestArgs

    def run(self, ctx: TaskContext) -> TaskResult:
        """Reuse a pending request with the same names, or create one, and write it out."""
        args = self.args
        names = self._names(ctx)
        path = Path(args.request_file)
        installed = read_certificates(ctx, args.server)
        if not args.renew:
            current = _installed_for(installed, names, args.renew_days)
            if current is not None:
                thumbprint, not_after = current
                return TaskResult(
                    "ok",
                    f"{args.server} already has certificate {thumbprint} for these names, valid "
                    f"until {not_after:%Y-%m-%d}; set renew: true to request a new one",
                )
        pending = _pending_request(installed, names)

        if pending is not None:
            thumbprint, text = pending
            if _file_text(path) == text:
                return TaskResult("ok", f"pending request {thumbprint} has the same names")
            change = Change(str(path), "content", None, f"request {thumbprint}")
            if not ctx.check_mode:
                _write(path, text)
            return TaskResult(
                "changed", f"pending request {thumbprint} reused", [change], data={"names": names}
            )

        command = Command(
            "New-ExchangeCertificate",
            {
                "GenerateRequest": Switch(),
                "SubjectName": args.subject_name or f"CN={names[0]}",
                "DomainName": names,
                "KeySize": args.key_size,
                "PrivateKeyExportable": True,
                "Server": args.server,
            },
        )
        change = Change(args.server, "certificate request", None, ", ".join(names))
        if ctx.check_mode:
            return TaskResult("changed", "would create a request", [change], [str(command)])

        result = ctx.session("exchange").invoke(command)
        if not result.ok:
            raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
        text = "\n".join(str(item) for item in result.output).strip() + "\n"
        _check_request(text, names, args.key_size)
        warnings = list(result.warnings)
        if _file_text(path) not in (None, text):
            warnings.append(
                f"replaced {path}, which held another request; its key stays pending on "
                f"{args.server} until a certificate is imported for it or it is removed"
            )
        _write(path, text)
        return TaskResult(
            "changed",
            f"request for {len(names)} names written to {path}",
            [change],
            [str(command)],
            warnings,
            data={"names": names, "request_file": str(path)},
        )

    def _names(self, ctx: TaskContext) -> list[str]:
        args = self.args
        if args.domain_names is not None:
            names = list(dict.fromkeys(args.domain_names))
        else:
            domains = _accepted_domains(ctx) if args.include_autodiscover else []
            names = derive_domain_names(args.namespaces, domains)
        if not names:
            raise TaskError(
                "certificate_request has no names to request: set namespaces or domain_names"
            )
        return names


def _accepted_domains(ctx: TaskContext) -> list[AcceptedDomainInfo]:
    result = ctx.session("exchange").invoke(Command("Get-AcceptedDomain", {}))
    if not result.ok:
        raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
    return [
        AcceptedDomainInfo(str(item.get("DomainName", "")), str(item.get("DomainType", "")))
        for item in result.output
    ]


def read_certificates(ctx: TaskContext, server: str) -> list[ExObject]:
    """Read ``server``'s certificates and pending requests with the properties the tasks use."""
    statement = Pipeline(
        (
            Command("Get-ExchangeCertificate", {"Server": server}),
            Command("Select-Object", {"Property": CERTIFICATE_PROPERTIES}),
        )
    )
    result = ctx.session("exchange").invoke(statement)
    if not result.ok:
        raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
    return list(result.output)


def _installed_for(
    installed: list[ExObject], names: list[str], renew_days: int
) -> tuple[str, datetime] | None:
    """Return the thumbprint and expiry of a valid certificate with a key for every name."""
    wanted = {name.casefold() for name in names}
    limit = datetime.now(UTC) + timedelta(days=renew_days)
    for item in installed:
        if str(item.get("Status")) != "Valid" or item.get("HasPrivateKey") is not True:
            continue
        domains = {
            str(domain).casefold().rstrip(".") for domain in item.get("CertificateDomains") or []
        }
        not_after = item.get("NotAfter")
        if not isinstance(not_after, datetime):
            continue
        if not_after.tzinfo is None:
            not_after = not_after.replace(tzinfo=UTC)
        if wanted <= domains and not_after > limit:
            return str(item.get("Thumbprint")), not_after
    return None


def _pending_request(installed: list[ExObject], names: list[str]) -> tuple[str, str] | None:
    wanted = {name.casefold() for name in names}
    for item in installed:
        if str(item.get("Status")) != "PendingRequest":
            continue
        domains = item.get("CertificateDomains") or []
        if {str(domain).casefold().rstrip(".") for domain in domains} != wanted:
            continue
        text = item.get("CertificateRequest")
        if text:
            return str(item.get("Thumbprint")), str(text).strip() + "\n"
    return None


def _check_request(text: str, names: list[str], key_size: int) -> None:
    try:
        facts = request_facts(load_request(text.encode("ascii"), "New-ExchangeCertificate output"))
    except (CertificateFileError, UnicodeEncodeError) as error:
        raise TaskError(f"Exchange returned no readable certificate request: {error}") from None
    if {name.casefold() for name in facts.dns_names} != {name.casefold() for name in names}:
        raise TaskError(
            f"the request Exchange created names {', '.join(facts.dns_names)}, expected "
            f"{', '.join(names)}"
        )
    if facts.key_size < key_size:
        raise TaskError(f"the request's key has {facts.key_size} bits, expected {key_size}")


def _file_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")
