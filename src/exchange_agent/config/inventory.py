"""The inventory: Exchange servers, their two endpoints, groups and variables."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from exchange_agent.config.errors import validation_errors
from exchange_agent.config.secrets import SecretRef
from exchange_agent.config.yaml import Locations, load_yaml
from exchange_agent.errors import ConfigError, ConfigErrors, SourceLocation
from exchange_agent.remote.session import EndpointKind
from exchange_agent.remote.settings import EndpointSettings

AuthMethod = Literal["negotiate", "kerberos", "ntlm", "basic", "credssp", "certificate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointModel(_Strict):
    """One PowerShell endpoint of a host, as written in the inventory."""

    url: str | None = None
    configuration_name: str | None = None
    auth: AuthMethod = "kerberos"
    username: str | None = None
    password: SecretRef | None = None
    keytab: Path | None = None
    ticket_cache: str | None = None
    cert_validation: bool = True
    ca_bundle: Path | None = None
    encryption: Literal["auto", "always", "never"] = "auto"
    allow_unencrypted_basic: bool = False
    connect_timeout: float = Field(default=30.0, gt=0, le=600)
    operation_timeout: float = Field(default=20.0, gt=0, le=600)
    read_timeout: float = Field(default=30.0, gt=0, le=900)
    stall_timeout: float = Field(default=300.0, gt=0, le=3600)
    max_concurrency: int = Field(default=4, ge=1, le=17)


class LabModel(_Strict):
    """Marks a host served by the embedded lab, and how the lab's server is reached."""

    seed: Path | None = None
    state: Path | None = None
    auth: Literal["basic", "ntlm"] = "basic"
    tls: bool = False


class HostModel(_Strict):
    """One host entry."""

    fqdn: str | None = None
    server: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    exchange: EndpointModel | None = None
    windows: EndpointModel | None = None
    lab: LabModel | None = None


class GroupModel(_Strict):
    """A group of hosts with shared variables."""

    hosts: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)


class AllModel(_Strict):
    """Variables for every host."""

    vars: dict[str, Any] = Field(default_factory=dict)


class InventoryModel(_Strict):
    """The whole inventory file."""

    all: AllModel = Field(default_factory=AllModel)
    groups: dict[str, GroupModel] = Field(default_factory=dict)
    hosts: dict[str, HostModel]


@dataclass(frozen=True)
class EndpointConfig:
    """A resolved endpoint: URL and options with defaults applied."""

    kind: EndpointKind
    url: str
    configuration_name: str
    model: EndpointModel
    location: SourceLocation

    def resolve_password(self) -> SecretStr | None:
        """Read the password from its reference, if the endpoint has one."""
        return self.model.password.resolve() if self.model.password else None

    @property
    def username(self) -> str | None:
        """The user name, with a Kerberos realm upper-cased (MIT Kerberos is case-sensitive)."""
        return kerberos_principal(self.model.username) if self.model.username else None

    def to_settings(self, password: SecretStr | None = None) -> EndpointSettings:
        """Build the session settings, with ``password`` already resolved."""
        model = self.model
        return EndpointSettings(
            url=self.url,
            configuration_name=self.configuration_name,
            auth=model.auth,
            username=self.username,
            password=password,
            cert_validation=model.cert_validation,
            ca_bundle=str(model.ca_bundle) if model.ca_bundle else None,
            encryption=(
                "never"
                if model.auth == "basic"
                and model.allow_unencrypted_basic
                and urlsplit(self.url).scheme == "http"
                else model.encryption
            ),
            connect_timeout=model.connect_timeout,
            operation_timeout=model.operation_timeout,
            read_timeout=max(model.read_timeout, model.operation_timeout + 10),
            stall_timeout=model.stall_timeout,
            max_concurrency=model.max_concurrency,
            kind=self.kind,
            keytab=str(self.keytab) if self.keytab else None,
            ticket_cache=model.ticket_cache,
        )

    @property
    def keytab(self) -> Path | None:
        """The keytab path; a relative one is taken from the inventory file's folder."""
        keytab = self.model.keytab
        if keytab is None or keytab.is_absolute() or not self.location.path:
            return keytab
        return Path(self.location.path).parent / keytab


@dataclass(frozen=True)
class HostConfig:
    """One host, with its variables merged from all, its groups and itself."""

    name: str
    fqdn: str
    server: str
    vars: dict[str, Any]
    groups: tuple[str, ...]
    exchange: EndpointConfig | None
    windows: EndpointConfig | None
    lab: LabModel | None
    location: SourceLocation

    def endpoint(self, kind: EndpointKind) -> EndpointConfig | None:
        """Return the host's endpoint of ``kind``, if configured."""
        return self.exchange if kind == "exchange" else self.windows


@dataclass
class Inventory:
    """A loaded, validated inventory."""

    path: str
    hosts: dict[str, HostConfig]
    groups: dict[str, tuple[str, ...]]
    warnings: list[str] = field(default_factory=list)


def kerberos_principal(user: str) -> str:
    """Upper-case the realm of ``user@realm``; the user part is kept as written."""
    if "@" in user and "\\" not in user:
        name, realm = user.rsplit("@", 1)
        return f"{name}@{realm.upper()}"
    return user


def load_inventory(path: Path) -> Inventory:
    """Load and validate an inventory file.

    Raises:
        ConfigErrors: Every problem found, each with its file, line and column.
    """
    data, locations = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("an inventory must be a mapping with a hosts key", locations.at(()))
    try:
        model = InventoryModel.model_validate(data)
    except ValidationError as error:
        raise ConfigErrors(
            validation_errors(error, locations, data, model=InventoryModel)
        ) from None
    return _build(model, locations)


def _build(model: InventoryModel, locations: Locations) -> Inventory:
    errors: list[ConfigError] = []
    warnings: list[str] = []
    groups: dict[str, tuple[str, ...]] = {}
    for group, group_entry in model.groups.items():
        for index, member in enumerate(group_entry.hosts):
            if member not in model.hosts:
                errors.append(
                    ConfigError(
                        f"group {group} names unknown host {member!r}"
                        + _suggest(member, model.hosts),
                        locations.at(("groups", group, "hosts", index)),
                    )
                )
        groups[group] = tuple(group_entry.hosts)
        if group in model.hosts:
            errors.append(
                ConfigError(
                    f"{group!r} is both a host and a group", locations.at(("groups", group))
                )
            )

    hosts: dict[str, HostConfig] = {}
    for name, entry in model.hosts.items():
        member_of = tuple(group for group, members in groups.items() if name in members)
        merged = dict(model.all.vars)
        for group in member_of:
            merged.update(model.groups[group].vars)
        merged.update(entry.vars)
        fqdn = entry.fqdn or name
        server = entry.server or fqdn.split(".", 1)[0].upper()
        merged.setdefault("exchange_server", server)
        merged.setdefault("inventory_hostname", name)
        exchange = _endpoint(name, "exchange", entry.exchange, fqdn, entry.lab, locations, errors)
        windows = _endpoint(name, "windows", entry.windows, fqdn, entry.lab, locations, errors)
        host = HostConfig(
            name,
            fqdn,
            server,
            merged,
            member_of,
            exchange,
            windows,
            entry.lab,
            locations.at(("hosts", name)),
        )
        hosts[name] = host
        warnings.extend(_endpoint_warnings(host))

    warnings.extend(_shared_url_warnings(hosts))
    if errors:
        raise ConfigErrors(errors)
    return Inventory(locations.path, hosts, groups, warnings)


def _endpoint(  # noqa: PLR0917
    host: str,
    kind: EndpointKind,
    model: EndpointModel | None,
    fqdn: str,
    lab: LabModel | None,
    locations: Locations,
    errors: list[ConfigError],
) -> EndpointConfig | None:
    if model is None:
        if kind == "exchange":
            model = EndpointModel()
        else:
            return None
    key = ("hosts", host, kind)
    location = locations.at(key)
    if kind == "exchange":
        url = model.url or f"http://{fqdn}/PowerShell"
        configuration = model.configuration_name or "Microsoft.Exchange"
    else:
        url = model.url or f"https://{fqdn}:5986/wsman"
        configuration = model.configuration_name or "Microsoft.PowerShell"
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises ValueError for a non-numeric or out-of-range port)
    except ValueError:
        valid = False
    if not valid:
        errors.append(
            ConfigError(
                f"{host}.{kind}.url {url!r} is invalid: expected http(s)://<fqdn>[:port]/<path>",
                locations.at((*key, "url")),
            )
        )
        return None
    if lab is None:
        errors.extend(_endpoint_errors(host, kind, model, url, locations))
    return EndpointConfig(kind, url, configuration, model, location)


def _endpoint_errors(
    host: str, kind: EndpointKind, model: EndpointModel, url: str, locations: Locations
) -> list[ConfigError]:
    errors = []
    key = ("hosts", host, kind)
    parts = urlsplit(url)
    if model.auth == "basic" and parts.scheme == "http" and not model.allow_unencrypted_basic:
        errors.append(
            ConfigError(
                f"{host}.{kind}: Basic authentication over http would send the password and "
                "every command unencrypted. Use auth: kerberos (messages are encrypted over "
                "http) or an https URL.",
                locations.at((*key, "auth")),
            )
        )
    if model.encryption == "never" and parts.scheme == "http" and model.auth != "basic":
        errors.append(
            ConfigError(
                f"{host}.{kind}.encryption: never is rejected over http; remove it "
                f"({model.auth} encrypts the messages).",
                locations.at((*key, "encryption")),
            )
        )
    if kind == "exchange" and model.auth in ("kerberos", "negotiate") and _is_ip(parts.hostname):
        errors.append(
            ConfigError(
                f"{host}.exchange.url uses an IP address; Kerberos needs the server's FQDN "
                "(it asks for the SPN HTTP/<fqdn>).",
                locations.at((*key, "url")),
            )
        )
    if model.password is not None and model.username is None:
        errors.append(
            ConfigError(f"{host}.{kind}: password given without username", locations.at(key))
        )
    errors.extend(_kerberos_errors(host, kind, model, locations))
    return errors


def _kerberos_errors(
    host: str, kind: EndpointKind, model: EndpointModel, locations: Locations
) -> list[ConfigError]:
    errors = []
    key = ("hosts", host, kind)
    for option in ("keytab", "ticket_cache"):
        if getattr(model, option) is not None and model.auth not in ("kerberos", "negotiate"):
            errors.append(
                ConfigError(
                    f"{host}.{kind}.{option} needs auth: kerberos (found auth: {model.auth})",
                    locations.at((*key, option)),
                )
            )
    if model.keytab is None:
        return errors
    if model.username is None:
        errors.append(
            ConfigError(
                f"{host}.{kind}.keytab needs username: the principal whose key it holds, "
                "such as svc-exch@CONTOSO.COM",
                locations.at((*key, "keytab")),
            )
        )
    if model.password is not None or model.ticket_cache is not None:
        errors.append(
            ConfigError(
                f"{host}.{kind}: give one of keytab, password and ticket_cache",
                locations.at((*key, "keytab")),
            )
        )
    keytab = model.keytab
    location = locations.at((*key, "keytab"))
    if not keytab.is_absolute() and location.path:
        keytab = Path(location.path).parent / keytab
    if not keytab.is_file():
        errors.append(
            ConfigError(
                f"{host}.{kind}.keytab {str(model.keytab)!r} is not a readable file "
                f"(looked at {keytab}); create it with ktutil or ktpass",
                location,
            )
        )
    return errors


def _endpoint_warnings(host: HostConfig) -> list[str]:
    warnings = []
    for endpoint in (host.exchange, host.windows):
        if endpoint is None or host.lab is not None:
            continue
        parts = urlsplit(endpoint.url)
        if endpoint.kind == "exchange" and (
            parts.port in (5985, 5986) or parts.path.rstrip("/").lower().endswith("/wsman")
        ):
            warnings.append(
                f"{endpoint.location}: {host.name}.exchange.url {endpoint.url} looks like the "
                "Windows endpoint; Exchange serves remote PowerShell from IIS at "
                f"http://{host.fqdn}/PowerShell"
            )
        # On a loopback URL the endpoint is a lab (exchange-agent lab serve), not Exchange's IIS.
        if (
            endpoint.kind == "exchange"
            and endpoint.model.auth == "ntlm"
            and not _is_loopback(parts.hostname)
        ):
            warnings.append(
                f"{endpoint.location}: {host.name}.exchange uses ntlm; Exchange's PowerShell "
                "virtual directory accepts Kerberos by default"
            )
        if parts.scheme == "https" and not endpoint.model.cert_validation:
            warnings.append(
                f"TLS certificate validation is disabled for {parts.hostname}:"
                f"{parts.port or 443} by {endpoint.location}."
            )
    return warnings


def _shared_url_warnings(hosts: Mapping[str, HostConfig]) -> list[str]:
    by_host: dict[str, list[str]] = {}
    for host in hosts.values():
        if host.exchange is not None and host.lab is None:
            hostname = (urlsplit(host.exchange.url).hostname or "").lower()
            by_host.setdefault(hostname, []).append(host.name)
    return [
        f"hosts {', '.join(names)} share the Exchange URL host {hostname}; server-scoped tasks "
        "pass -Server for each, but Kerberos needs an SPN for that name"
        for hostname, names in by_host.items()
        if len(names) > 1
    ]


def _is_ip(hostname: str | None) -> bool:
    try:
        ipaddress.ip_address((hostname or "").strip("[]"))
    except ValueError:
        return False
    return True


def _suggest(word: str, choices: Mapping[str, Any] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_loopback(hostname: str | None) -> bool:
    if hostname is None:
        return False
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
