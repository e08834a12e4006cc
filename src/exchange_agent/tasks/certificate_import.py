"""The ``certificate_import`` task: install an issued certificate and enable it for services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pydantic import Field, field_validator

from exchange_agent.certificates import (
    CertificateCheckError,
    CertificateFacts,
    CertificateFileError,
    certificate_facts,
    check_issued_certificate,
    load_certificates,
    load_request,
    request_facts,
    select_issued_certificate,
)
from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command, Secret, Statement, Switch
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.result import ExObject
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Change, Task, TaskArgs, TaskContext, TaskResult
from exchange_agent.tasks.certificate_request import read_certificates

Service = Literal["Federation", "IIS", "IMAP", "POP", "SMTP", "UM", "UMCallRouter"]


class CertificateImportArgs(TaskArgs):
    """Arguments of :class:`CertificateImportTask`."""

    servers: list[str] = Field(min_length=1, description="Exchange servers to install it on.")
    certificate_file: str = Field(
        min_length=1, description="Local file with the issued certificate and its chain."
    )
    services: list[Service] = Field(min_length=1, description="Services to enable it for.")
    request_file: str | None = Field(
        None, description="Local copy of the request; its key and names are checked."
    )
    required_names: list[str] | None = Field(
        None,
        description="Names the certificate must cover; defaults to the request's names, or "
        "without request_file to the certificate's own.",
    )

    @field_validator("certificate_file")
    @classmethod
    def _certificate_file(cls, value: str) -> str:
        # Checked with the playbook, so that a missing file stops the run before any host.
        path = Path(value)
        if not path.is_file():
            raise ValueError(
                f"{path.resolve()} is not a file; save the certificate the CA issued for the "
                "request there (against the lab: exchange-agent lab sign REQUEST -o "
                f"{value})"
            )
        return value


@register
class CertificateImportTask(Task[CertificateImportArgs]):
    """Import an issued certificate with its chain on each server and enable it for services.

    The certificate file's content is sent (``Import-ExchangeCertificate -FileData``), so the
    file need not be reachable from the servers. Before anything is sent, the certificate must
    carry the pending request's public key, cover every required name (exact or one-level
    wildcard), be within its validity period and have a key of at least 2048 bits. Services
    are enabled by thumbprint with ``Enable-ExchangeCertificate -Force``, because the prompt to
    replace the default SMTP certificate cannot be answered over remoting. The previous
    certificate of each service and its services are written to the journal first, so that
    ``undo`` can enable it again.

    Only the server that created the request has its private key. Every other listed server
    gets a copy: the certificate is exported from the key's server as PKCS #12
    (``Export-ExchangeCertificate -BinaryEncoded -Password``) under a one-time password, sent
    as a SecureString, and imported with ``Import-ExchangeCertificate -FileData -Password``.
    The copy and its password stay in memory for the run. The key must have been created
    exportable, as ``certificate_request`` does; this is checked before anything is sent.

    Example:
        .. code-block:: yaml

            - name: install the client access certificate
              certificate_import:
                servers: [EX01, EX02]
                certificate_file: issued/mail.contoso.com.p7b
                request_file: requests/mail.contoso.com.req
                services: [IIS, SMTP]
    """

    name = "certificate_import"
    args_model = CertificateImportArgs

    def run(self, ctx: TaskContext) -> TaskResult:
        """Check the certificate, then import and enable it where it is missing."""
        args = self.args
        chain = load_certificates(_read(args.certificate_file), args.certificate_file)
        request = (
            request_facts(load_request(_read(args.request_file), args.request_file))
            if args.request_file
            else None
        )
        issued = select_issued_certificate(chain, request)
        facts = certificate_facts(issued)
        required = args.required_names or list(request.dns_names if request else facts.dns_names)
        problems = check_issued_certificate(facts, request, required, datetime.now(UTC))
        if problems:
            raise CertificateCheckError(args.certificate_file, problems)

        # A PKCS #7 chain is the form Import-ExchangeCertificate documents for an issued
        # certificate with its chain; the issued certificate goes first.
        others = [certificate for certificate in chain if certificate is not issued]
        file_data = pkcs7.serialize_certificates([issued, *others], serialization.Encoding.DER)

        # Every server is planned (and checked) before the first command is sent.
        plans = [self._plan_server(ctx, server, facts, file_data) for server in args.servers]
        _choose_sources(plans, facts.thumbprint)
        changes = [change for plan in plans for change in plan.changes]
        commands = [command for plan in plans for command in plan.rendered()]
        if not ctx.check_mode:
            wanted: set[str] = set(args.services)
            exports: dict[str, tuple[bytes, Secret]] = {}
            # Servers that have the key go first, so that the copies can be exported from them.
            for plan in sorted(plans, key=lambda item: item.copy_from is not None):
                if not plan.statements and plan.copy_from is None:
                    continue
                self._journal_previous(ctx, plan.server, plan.installed, facts.thumbprint, wanted)
                statements = list(plan.statements)
                if plan.copy_from is not None:
                    if plan.copy_from not in exports:
                        exports[plan.copy_from] = _export(ctx, plan.copy_from, facts.thumbprint)
                    data, password = exports[plan.copy_from]
                    statements.insert(0, _import_pfx(data, password, plan.server))
                self._apply_server(ctx, plan.server, facts.thumbprint, statements)

        if not changes:
            return TaskResult("ok", f"{facts.thumbprint} already enabled for the services")
        message = "would change" if ctx.check_mode else f"{facts.thumbprint} enabled"
        return TaskResult(
            "changed", message, changes, commands, data={"thumbprint": facts.thumbprint}
        )

    def _plan_server(
        self, ctx: TaskContext, server: str, facts: CertificateFacts, file_data: bytes
    ) -> _ServerPlan:
        installed = read_certificates(ctx, server)
        current = _find(installed, facts.thumbprint)
        wanted: set[str] = set(self.args.services)
        plan = _ServerPlan(server, installed)

        if current is None:
            plan.changes.append(Change(server, "certificate", None, facts.thumbprint))
            pending = _pending_with_key(installed, facts.public_key)
            if pending is not None:
                plan.statements.append(
                    Command("Import-ExchangeCertificate", {"FileData": file_data, "Server": server})
                )
                plan.key_exportable = _true(pending.get("PrivateKeyExportable"))
            else:
                plan.needs_copy = True
            have: set[str] = set()
        else:
            have = _services(current)
            if _true(current.get("HasPrivateKey")):
                plan.key_exportable = _true(current.get("PrivateKeyExportable"))
        if not wanted <= have:
            target = f"{server}\\{facts.thumbprint}"
            plan.changes.append(Change(target, "Services", sorted(have), sorted(have | wanted)))
            plan.statements.append(_enable(facts.thumbprint, sorted(wanted), server))

        replaced = _previous(installed, facts.thumbprint, wanted)
        if plan.changes and replaced and ctx.journal is None and not ctx.check_mode:
            raise TaskError(
                f"certificate_import replaces the certificate of {', '.join(sorted(wanted))} "
                f"on {server} but the run has no journal to record the previous one; run it "
                "with a journal so that undo can restore it"
            )
        return plan

    def _journal_previous(
        self,
        ctx: TaskContext,
        server: str,
        installed: list[ExObject],
        thumbprint: str,
        wanted: set[str],
    ) -> None:
        for item in _previous(installed, thumbprint, wanted):
            assert ctx.journal is not None  # _plan_server rejects a run without one
            old = str(item.get("Thumbprint"))
            services = sorted(_services(item))
            ctx.journal.record(
                task=self.name,
                target=f"{server}\\{old}",
                undo=[_enable(old, services, server)],
                before={"thumbprint": old, "services": services, "server": server},
            )

    def _apply_server(
        self, ctx: TaskContext, server: str, thumbprint: str, statements: list[Statement]
    ) -> None:
        session = ctx.session("exchange")
        for statement in statements:
            result = session.invoke(statement)
            if not result.ok:
                raise CommandError(result.errors, host=ctx.host, endpoint="exchange")

        current = _find(read_certificates(ctx, server), thumbprint)
        if current is None or not set(self.args.services) <= _services(current):
            found = "not installed" if current is None else sorted(_services(current))
            raise TaskError(
                f"Exchange accepted the import but {thumbprint} on {server} is {found}; "
                f"expected services {', '.join(self.args.services)}"
            )


@dataclass
class _ServerPlan:
    """The plan of one server: statements known now, and whether the key comes from elsewhere.

    ``key_exportable`` is None when the server has no key for the certificate (neither a
    pending request nor an installed copy with its key), else whether the key can be exported.
    """

    server: str
    installed: list[ExObject]
    changes: list[Change] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    key_exportable: bool | None = None
    needs_copy: bool = False
    copy_from: str | None = None

    def rendered(self) -> list[str]:
        """Return the commands as text, the copy from another server included."""
        commands = [str(statement) for statement in self.statements]
        if self.copy_from is not None:
            commands[:0] = [
                f"Export-ExchangeCertificate -Server {self.copy_from} -BinaryEncoded "
                "-Password '********'",
                f"Import-ExchangeCertificate -Server {self.server} -FileData <PKCS #12 from "
                f"{self.copy_from}> -Password '********'",
            ]
        return commands


def _choose_sources(plans: list[_ServerPlan], thumbprint: str) -> None:
    """Name, for each server without the key, the server its PKCS #12 copy is exported from.

    Raises:
        TaskError: No listed server has the key, or the key cannot be exported.
    """
    targets = [plan for plan in plans if plan.needs_copy]
    if not targets:
        return
    holders = [plan for plan in plans if plan.key_exportable is not None]
    names = ", ".join(plan.server for plan in targets)
    if not holders:
        raise TaskError(
            f"{names} has no pending request for the key of {thumbprint}, and no other listed "
            "server has that key, so Exchange would install the certificate without its "
            "private key; add the server that created the request to servers"
        )
    source = next((plan for plan in holders if plan.key_exportable), None)
    if source is None:
        raise TaskError(
            f"the private key of {thumbprint} on {holders[0].server} cannot be exported, so it "
            f"cannot be copied to {names}; create the request with PrivateKeyExportable "
            "(certificate_request does), or import the certificate on one server only"
        )
    for plan in targets:
        plan.copy_from = source.server


def _export(ctx: TaskContext, server: str, thumbprint: str) -> tuple[bytes, Secret]:
    """Export the certificate with its key from ``server``, protected by a one-time password.

    The PKCS #12 bytes and the password stay in memory for this run; neither is logged nor
    written to the journal.
    """
    password = Secret(secrets.token_urlsafe(32))
    command = Command(
        "Export-ExchangeCertificate",
        {
            "Thumbprint": thumbprint,
            "Server": server,
            "BinaryEncoded": Switch(),
            "Password": password,
        },
    )
    result = ctx.session("exchange").invoke(command)
    if not result.ok:
        raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
    data = result.output[0].get("FileData") if result.output else None
    if not isinstance(data, bytes) or not data:
        raise TaskError(
            f"Export-ExchangeCertificate on {server} returned no FileData bytes for {thumbprint}"
        )
    return data, password


def _import_pfx(data: bytes, password: Secret, server: str) -> Command:
    return Command(
        "Import-ExchangeCertificate", {"FileData": data, "Password": password, "Server": server}
    )


def _true(value: object) -> bool:
    return value is True or str(value).lower() == "true"


def _enable(thumbprint: str, services: list[str], server: str) -> Command:
    return Command(
        "Enable-ExchangeCertificate",
        {"Thumbprint": thumbprint, "Services": services, "Server": server, "Force": Switch()},
    )


def _find(installed: list[ExObject], thumbprint: str) -> ExObject | None:
    for item in installed:
        if str(item.get("Thumbprint", "")).upper() == thumbprint:
            return item
    return None


def _previous(installed: list[ExObject], thumbprint: str, wanted: set[str]) -> list[ExObject]:
    return [
        item
        for item in installed
        if str(item.get("Thumbprint")) != thumbprint and _services(item) & wanted
    ]


def _pending_with_key(installed: list[ExObject], public_key: bytes) -> ExObject | None:
    for item in installed:
        text = item.get("CertificateRequest")
        if str(item.get("Status")) != "PendingRequest" or not text:
            continue
        try:
            request = request_facts(load_request(str(text).encode("ascii")))
        except (CertificateFileError, UnicodeEncodeError):
            continue
        if request.public_key == public_key:
            return item
    return None


def _services(item: ExObject) -> set[str]:
    value = item.get("Services")
    parts = value if isinstance(value, list) else str(value or "").split(",")
    return {str(part).strip() for part in parts if str(part).strip() not in ("", "None")}


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CertificateFileError(
            f"{path}: cannot read the file ({error.strerror}); check the path"
        ) from None
