"""Certificate requests, imports and service bindings of the simulated organization.

``New-ExchangeCertificate -GenerateRequest`` creates a key pair with ``cryptography`` and keeps
a pending request on the server. ``Import-ExchangeCertificate -FileData`` completes it with the
certificate a CA issued (a PKCS #7 chain, a PEM bundle or one DER certificate).
With ``-Password`` it imports a PKCS #12 file with its key instead, which
``Export-ExchangeCertificate -BinaryEncoded -Password`` produces from a certificate whose key
was created exportable. ``Enable-ExchangeCertificate`` assigns services. Syntax and parameter
sets follow the Exchange PowerShell reference pages of these cmdlets.

Keys, requests and raw certificates live in a side table per :class:`Organization` (see
:func:`stored_certificates`), which is written to ``org.certificate_store`` before each save.
Thumbprint, subject, services and expiry are mirrored into ``org.certificates``.
"""

# NOTE: Get-ExchangeCertificate belongs with the Autodiscover lab cmdlets, and this module
# registers its own only while lab.cmdlets.certificates does not exist. That module must then
# list the entries of stored_certificates() too, or the certificate tasks see no requests.

from __future__ import annotations

import base64
import hashlib
import importlib.util
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exchange_agent.certificates.facts import CertificateFileError, load_certificates
from exchange_agent.lab.cmdlets import errors
from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabObject, MultiValued
from exchange_agent.lab.org import BEFORE_SAVE, Certificate, Organization

__all__ = ["SERVICES", "StoredCertificate", "render_certificate", "stored_certificates"]

# The Services flag names of the Get-ExchangeCertificate reference.
SERVICES = ("None", "Federation", "IIS", "IMAP", "POP", "SMTP", "UM", "UMCallRouter")

# NOTE: KeySize values the lab accepts; Exchange's own list of valid sizes is not verified.
_KEY_SIZES = (1024, 2048, 4096)

_TYPE_NAMES = (
    "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate",
    "System.Security.Cryptography.X509Certificates.X509Certificate2",
    "System.Security.Cryptography.X509Certificates.X509Certificate",
    "System.Object",
)

_NAME_ATTRIBUTES = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
}


@dataclass
class StoredCertificate:
    """A pending request or an installed certificate on one server.

    ``raw_data`` is the certificate's DER, or None while the request is pending. ``request``
    is the PKCS #10 request in PEM.
    """

    server: str
    thumbprint: str
    subject: str
    domains: list[str]
    status: str
    private_key: rsa.RSAPrivateKey | None
    request: str | None = None
    raw_data: bytes | None = None
    services: list[str] = field(default_factory=list)
    not_after: datetime | None = None
    key_size: int = 0
    exportable: bool = False


_stores: dict[int, list[StoredCertificate]] = {}


def stored_certificates(org: Organization) -> list[StoredCertificate]:
    """Return the certificate side table of ``org``, loaded from its saved store on first use."""
    key = id(org)
    if key not in _stores:
        _stores[key] = [_load_entry(item) for item in org.certificate_store]
        weakref.finalize(org, _stores.pop, key, None)
    return _stores[key]


def _dump_store(org: Organization) -> None:
    if id(org) in _stores:
        org.certificate_store = [_dump_entry(entry) for entry in _stores[id(org)]]


BEFORE_SAVE.append(_dump_store)


def _dump_entry(entry: StoredCertificate) -> dict[str, Any]:
    key = (
        entry.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        if entry.private_key is not None
        else None
    )
    return {
        "server": entry.server,
        "thumbprint": entry.thumbprint,
        "subject": entry.subject,
        "domains": list(entry.domains),
        "status": entry.status,
        "private_key": key,
        "request": entry.request,
        "raw_data": base64.b64encode(entry.raw_data).decode("ascii") if entry.raw_data else None,
        "services": list(entry.services),
        "not_after": entry.not_after.isoformat() if entry.not_after else None,
        "key_size": entry.key_size,
        "exportable": entry.exportable,
    }


def _load_entry(data: dict[str, Any]) -> StoredCertificate:
    key = None
    if data.get("private_key"):
        loaded = serialization.load_pem_private_key(data["private_key"].encode("ascii"), None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        key = loaded
    return StoredCertificate(
        server=data["server"],
        thumbprint=data["thumbprint"],
        subject=data["subject"],
        domains=list(data["domains"]),
        status=data["status"],
        private_key=key,
        request=data.get("request"),
        raw_data=base64.b64decode(data["raw_data"]) if data.get("raw_data") else None,
        services=list(data.get("services", [])),
        not_after=datetime.fromisoformat(data["not_after"]) if data.get("not_after") else None,
        key_size=int(data.get("key_size", 0)),
        exportable=bool(data.get("exportable", False)),
    )


def render_certificate(entry: StoredCertificate) -> LabObject:
    """Render ``entry`` with the properties ``Get-ExchangeCertificate | Select-Object`` reads."""
    services = ", ".join(entry.services) if entry.services else "None"
    return LabObject(
        type_names=_TYPE_NAMES,
        to_string=f"[Subject]\n  {entry.subject}\n\n[Thumbprint]\n  {entry.thumbprint}\n",
        properties={
            "RawData": entry.raw_data,
            "Thumbprint": entry.thumbprint,
            "Subject": entry.subject,
            "CertificateDomains": MultiValued(tuple(entry.domains)),
            "Services": services,
            "Status": entry.status,
            "HasPrivateKey": entry.private_key is not None,
            "PrivateKeyExportable": entry.private_key is not None and entry.exportable,
            "PublicKeySize": entry.key_size,
            "NotAfter": entry.not_after,
            "CertificateRequest": entry.request if entry.status == "PendingRequest" else None,
            "Identity": f"{entry.server}\\{entry.thumbprint}",
        },
    )


def _server_name(ctx: CmdletContext, given: str | None) -> str:
    if given is None:
        return ctx.server
    server = ctx.org.server(given)
    if server is None:
        ctx.terminate(errors.not_found(ctx, given))
    return server.name


def _parse_subject(ctx: CmdletContext, text: str) -> x509.Name:
    attributes = []
    for part in text.split(","):
        key, separator, value = part.partition("=")
        oid = _NAME_ATTRIBUTES.get(key.strip().upper())
        if not separator or oid is None or not value.strip():
            ctx.terminate(
                errors.invalid_parameter(
                    ctx, f"The subject name '{text}' is not a valid X.500 distinguished name.", text
                )
            )
        attributes.append(x509.NameAttribute(oid, value.strip()))
    return x509.Name(attributes)


_GET_PARAMS = [
    Param("Thumbprint", "string", position=0),
    Param("Identity", "identity"),
    Param("Server", "identity"),
]


def get_exchange_certificate(ctx: CmdletContext, **bound: Any) -> None:
    """List a server's certificates and pending requests, or the one ``-Thumbprint`` names."""
    server = _server_name(ctx, bound.get("Server"))
    wanted = bound.get("Thumbprint") or bound.get("Identity")
    if wanted and "\\" in wanted:
        server, wanted = wanted.split("\\", 1)
    entries = [
        entry
        for entry in stored_certificates(ctx.org)
        if entry.server.casefold() == server.casefold()
        and (wanted is None or entry.thumbprint.casefold() == wanted.casefold())
    ]
    if wanted is not None and not entries:
        ctx.error(errors.not_found(ctx, wanted))
    for entry in entries:
        ctx.output(render_certificate(entry))


# The Autodiscover lab module owns Get-ExchangeCertificate once it exists; registering a
# second implementation would make the registry raise.
if importlib.util.find_spec("exchange_agent.lab.cmdlets.certificates") is None:
    cmdlet("Get-ExchangeCertificate", endpoint="exchange", params=_GET_PARAMS)(
        get_exchange_certificate
    )

_NEW_PARAMS = [
    Param("GenerateRequest", "switch"),
    Param("SubjectName", "string"),
    Param("DomainName", "string[]"),
    Param("KeySize", "int"),
    Param("PrivateKeyExportable", "bool"),
    Param("FriendlyName", "string"),
    Param("RequestFile", "string"),
    Param("Server", "identity"),
    Param("Force", "switch"),
]


@cmdlet("New-ExchangeCertificate", endpoint="exchange", params=_NEW_PARAMS)
def new_exchange_certificate(ctx: CmdletContext, **bound: Any) -> None:
    """Create a certificate request (only ``-GenerateRequest`` is simulated).

    Outputs the PKCS #10 request as Base64 text, which the caller saves to a file.
    """
    if not bound.get("GenerateRequest"):
        ctx.terminate(
            errors.invalid_parameter(
                ctx, "The lab simulates only New-ExchangeCertificate -GenerateRequest.", None
            )
        )
    if bound.get("RequestFile"):
        ctx.terminate(
            errors.invalid_parameter(ctx, "The lab cannot write -RequestFile on a server.", None)
        )
    server = _server_name(ctx, bound.get("Server"))
    key_size = bound.get("KeySize", 2048)
    if key_size not in _KEY_SIZES:
        ctx.terminate(
            errors.invalid_parameter(
                ctx,
                f"The key size {key_size} isn't valid. Valid values are 1024, 2048 and 4096.",
                str(key_size),
            )
        )
    domains = [str(name) for name in bound.get("DomainName") or []]
    subject_text = bound.get("SubjectName") or (f"CN={domains[0]}" if domains else "")
    if not subject_text:
        ctx.terminate(
            errors.invalid_parameter(ctx, "Specify -SubjectName or at least one -DomainName.", None)
        )
    subject = _parse_subject(ctx, subject_text)

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if domains:
        san = x509.SubjectAlternativeName([x509.DNSName(name) for name in domains])
        builder = builder.add_extension(san, critical=False)
    request = builder.sign(key, hashes.SHA256())
    pem = request.public_bytes(serialization.Encoding.PEM).decode("ascii")

    entry = StoredCertificate(
        server=server,
        thumbprint=hashlib.sha1(
            request.public_bytes(serialization.Encoding.DER), usedforsecurity=False
        )
        .hexdigest()
        .upper(),
        subject=subject.rfc4514_string(),
        domains=domains,
        status="PendingRequest",
        private_key=key,
        request=pem,
        key_size=key_size,
        # New-ExchangeCertificate's default is a key that cannot be exported.
        exportable=bool(bound.get("PrivateKeyExportable", False)),
    )
    stored_certificates(ctx.org).append(entry)
    ctx.output(LabObject(("System.String", "System.Object"), pem, {}))


_IMPORT_PARAMS = [
    Param("FileData", "object"),
    Param("FileName", "string"),
    Param("Server", "identity"),
    Param("PrivateKeyExportable", "bool"),
    Param("FriendlyName", "string"),
    Param("Password", "securestring"),
]


@cmdlet("Import-ExchangeCertificate", endpoint="exchange", params=_IMPORT_PARAMS)
def import_exchange_certificate(ctx: CmdletContext, **bound: Any) -> None:
    """Import a certificate or chain from ``-FileData`` bytes, completing a pending request."""
    if bound.get("FileName") is not None:
        ctx.terminate(
            errors.invalid_parameter(ctx, "The lab reads no files on servers: use -FileData.", None)
        )
    data = bound.get("FileData")
    if not isinstance(data, bytes):
        ctx.terminate(errors.invalid_parameter(ctx, "-FileData must be a byte array.", None))
    server = _server_name(ctx, bound.get("Server"))
    store = stored_certificates(ctx.org)
    password = bound.get("Password")
    if password is not None:
        certificate, key = _load_pfx(ctx, data, password)
        entry = _import_one(ctx, store, server, certificate)
        if entry is not None:
            entry.private_key = key
            entry.exportable = bool(bound.get("PrivateKeyExportable", False))
        return
    try:
        chain = load_certificates(data, "FileData")
    except CertificateFileError:
        ctx.terminate(
            errors.invalid_parameter(
                ctx, "The certificate data is not a certificate or certificate chain.", None
            )
        )
    for certificate in chain:
        _import_one(ctx, store, server, certificate)


def _load_pfx(ctx: CmdletContext, data: bytes, password: str) -> tuple[x509.Certificate, Any]:
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError:
        # NOTE: the wording of Exchange's error for a wrong PFX password is not confirmed.
        ctx.terminate(
            errors.invalid_parameter(
                ctx,
                "The PKCS #12 file could not be read: the password is wrong or the file is "
                "damaged.",
                None,
            )
        )
    if certificate is None or not isinstance(key, rsa.RSAPrivateKey):
        ctx.terminate(
            errors.invalid_parameter(ctx, "The PKCS #12 file has no certificate with a key.", None)
        )
    return certificate, key


def _import_one(
    ctx: CmdletContext,
    store: list[StoredCertificate],
    server: str,
    certificate: x509.Certificate,
) -> StoredCertificate | None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        is_ca = constraints.value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    der = certificate.public_bytes(serialization.Encoding.DER)
    thumbprint = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    if is_ca:
        # The lab keeps only end-entity certificates, so the chain's CA certificates are dropped.
        return None
    on_server = [entry for entry in store if entry.server.casefold() == server.casefold()]
    if any(entry.thumbprint == thumbprint for entry in on_server):
        ctx.terminate(
            errors.rejected(
                ctx, f"The certificate with thumbprint {thumbprint} already exists.", thumbprint
            )
        )

    spki = _spki(certificate.public_key())
    pending = next(
        (
            entry
            for entry in on_server
            if entry.status == "PendingRequest"
            and entry.private_key is not None
            and _spki(entry.private_key.public_key()) == spki
        ),
        None,
    )
    entry = pending or StoredCertificate(server, thumbprint, "", [], "Valid", None)
    if pending is None:
        store.append(entry)
    entry.thumbprint = thumbprint
    entry.subject = certificate.subject.rfc4514_string()
    entry.status = "Valid"
    entry.raw_data = der
    entry.not_after = certificate.not_valid_after_utc
    entry.key_size = getattr(certificate.public_key(), "key_size", 0)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        entry.domains = list(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        entry.domains = []
    _mirror(ctx.org, entry)
    ctx.output(render_certificate(entry))
    return entry


_EXPORT_PARAMS = [
    Param("Thumbprint", "string", position=0),
    Param("Identity", "identity"),
    Param("Server", "identity"),
    Param("BinaryEncoded", "switch"),
    Param("Password", "securestring"),
    Param("FileName", "string"),
]


@cmdlet("Export-ExchangeCertificate", endpoint="exchange", params=_EXPORT_PARAMS)
def export_exchange_certificate(ctx: CmdletContext, **bound: Any) -> None:
    """Export a certificate with its private key as PKCS #12 bytes in ``FileData``.

    Exchange's documented use is ``$cert = Export-ExchangeCertificate -Thumbprint <t>
    -BinaryEncoded -Password <SecureString> [-Server <s>]`` followed by writing
    ``$cert.FileData`` to a ``.pfx`` file; that form works on 2010 and later.
    """
    if bound.get("FileName") is not None:
        ctx.terminate(
            errors.invalid_parameter(
                ctx, "The lab writes no files on servers: read FileData.", None
            )
        )
    password = bound.get("Password")
    if password is None or not bound.get("BinaryEncoded"):
        ctx.terminate(
            errors.invalid_parameter(
                ctx,
                "The lab simulates only the export of a certificate with its private key: give "
                "-BinaryEncoded and -Password.",
                None,
            )
        )
    server = _server_name(ctx, bound.get("Server"))
    wanted = bound.get("Thumbprint") or bound.get("Identity") or ""
    if "\\" in wanted:
        server, wanted = wanted.split("\\", 1)
    entry = next(
        (
            item
            for item in stored_certificates(ctx.org)
            if item.server.casefold() == server.casefold()
            and item.thumbprint.casefold() == wanted.casefold()
        ),
        None,
    )
    if entry is None:
        ctx.terminate(errors.not_found(ctx, wanted))
    if entry.raw_data is None or entry.private_key is None or not entry.exportable:
        # NOTE: the wording of Exchange's error for a key that cannot be exported is not
        # confirmed.
        ctx.terminate(
            errors.rejected(
                ctx,
                f"The private key of the certificate {entry.thumbprint} couldn't be exported "
                "as PKCS-12. It either couldn't be accessed or isn't exportable.",
                entry.thumbprint,
            )
        )
    certificate = x509.load_der_x509_certificate(entry.raw_data)
    data = pkcs12.serialize_key_and_certificates(
        None,
        entry.private_key,
        certificate,
        None,
        serialization.BestAvailableEncryption(str(password).encode("utf-8")),
    )
    # NOTE: the type name of the exported object is not confirmed; FileData is documented.
    ctx.output(
        LabObject(
            type_names=("Microsoft.Exchange.Data.BinaryFileDataObject", "System.Object"),
            to_string="Microsoft.Exchange.Data.BinaryFileDataObject",
            properties={"FileData": data},
        )
    )


def _spki(key: Any) -> bytes:
    return key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _mirror(org: Organization, entry: StoredCertificate) -> None:
    for record in org.certificates:
        if record.thumbprint == entry.thumbprint and record.server == entry.server:
            record.services = list(entry.services)
            return
    org.certificates.append(
        Certificate(
            thumbprint=entry.thumbprint,
            subject=entry.subject,
            services=list(entry.services),
            not_after=entry.not_after.isoformat() if entry.not_after else "",
            server=entry.server,
        )
    )


_ENABLE_PARAMS = [
    Param("Thumbprint", "string", position=0),
    Param("Identity", "identity"),
    Param("Services", "string[]", mandatory=True),
    Param("Server", "identity"),
    Param("Force", "switch"),
    Param("DoNotRequireSsl", "switch"),
    Param("NetworkServiceAllowed", "switch"),
]


@cmdlet("Enable-ExchangeCertificate", endpoint="exchange", params=_ENABLE_PARAMS)
def enable_exchange_certificate(ctx: CmdletContext, **bound: Any) -> None:
    """Assign services to an installed certificate; IIS moves off the server's other certificates.

    Exchange prompts before it replaces the default SMTP certificate, and remoting cannot show
    a prompt, so without ``-Force`` that case fails here.
    """
    server = _server_name(ctx, bound.get("Server"))
    wanted = bound.get("Thumbprint") or bound.get("Identity") or ""
    if "\\" in wanted:
        server, wanted = wanted.split("\\", 1)
    services = _parse_services(ctx, bound["Services"])
    on_server = [
        e for e in stored_certificates(ctx.org) if e.server.casefold() == server.casefold()
    ]
    entry = next((e for e in on_server if e.thumbprint.casefold() == wanted.casefold()), None)
    if entry is None:
        ctx.terminate(errors.not_found(ctx, wanted))
    if entry.status == "PendingRequest" or entry.private_key is None:
        ctx.terminate(
            errors.rejected(
                ctx,
                f"The certificate with thumbprint {entry.thumbprint} has no private key, so "
                "it can't be enabled for services.",
                entry.thumbprint,
            )
        )
    others = [e for e in on_server if e is not entry]
    if "SMTP" in services and not bound.get("Force") and any("SMTP" in e.services for e in others):
        ctx.terminate(
            errors.rejected(
                ctx,
                "Confirmation is required to overwrite the existing default SMTP certificate; "
                "use -Force.",
                entry.thumbprint,
            )
        )
    if "IIS" in services:
        for other in others:
            if "IIS" in other.services:
                other.services.remove("IIS")
                _mirror(ctx.org, other)
    entry.services = [s for s in SERVICES if s in set(entry.services) | set(services)]
    _mirror(ctx.org, entry)


def _parse_services(ctx: CmdletContext, values: list[str]) -> list[str]:
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    canonical = {service.casefold(): service for service in SERVICES}
    result = []
    for name in names:
        if name.casefold() not in canonical:
            ctx.terminate(
                errors.invalid_parameter(
                    ctx,
                    f"'{name}' is not a valid service. Valid values are: {', '.join(SERVICES)}.",
                    name,
                )
            )
        if canonical[name.casefold()] != "None":
            result.append(canonical[name.casefold()])
    return result
