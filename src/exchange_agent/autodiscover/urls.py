"""Plan the client access URLs of one Exchange server from one namespace.

Version facts (Exchange Server docs for each ``Set-*VirtualDirectory`` cmdlet and
``Set-ClientAccessService``):

* 2010 (14.x) has no MAPI over HTTP and no ``InternalHostname`` on Outlook Anywhere, and is the
  only version whose ``Set-AutodiscoverVirtualDirectory`` sets ``InternalUrl``/``ExternalUrl``.
* 2013 (15.0) writes the SCP with ``Set-ClientAccessServer``; MAPI over HTTP arrived in 2013
  SP1 (build 15.0.847).
* 2016 and later (15.1, 15.2) write the SCP with ``Set-ClientAccessService``;
  ``Set-ClientAccessServer`` is still listed there but deprecated.

The version is parsed from ``Get-ExchangeServer``'s ``AdminDisplayVersion`` (for example
``Version 15.2 (Build 1118.7)``), never taken from the inventory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exchange_agent.autodiscover.hostnames import normalise_host
from exchange_agent.errors import ExchangeAgentError

__all__ = [
    "ExchangeVersion",
    "OutlookAnywherePlan",
    "UrlPlan",
    "VersionParseError",
    "VirtualDirectoryPlan",
    "plan_urls",
    "scp_uri",
]

_VERSION = re.compile(r"Version\s+(\d+)\.(\d+)\s*\(Build\s+(\d+)\.(\d+)\)", re.IGNORECASE)

# The IIS site every virtual directory of a default installation lives in.
DEFAULT_WEB_SITE = "Default Web Site"


class VersionParseError(ExchangeAgentError, ValueError):
    """An ``AdminDisplayVersion`` that is not in Exchange's ``Version X.Y (Build A.B)`` form."""


@dataclass(frozen=True, order=True)
class ExchangeVersion:
    """An Exchange build, ordered by its numbers.

    Attributes:
        major: 14 for 2010, 15 for 2013 and later.
        minor: 0 for 2013, 1 for 2016, 2 for 2019 and Subscription Edition.
        build: The build number, such as 847 for 2013 SP1.
        revision: The build's revision.
    """

    major: int
    minor: int
    build: int = 0
    revision: int = 0

    @classmethod
    def parse(cls, admin_display_version: str) -> ExchangeVersion:
        """Read ``Get-ExchangeServer``'s ``AdminDisplayVersion`` text.

        Raises:
            VersionParseError: The text is not ``Version X.Y (Build A.B)``.
        """
        found = _VERSION.search(admin_display_version)
        if found is None:
            raise VersionParseError(
                f"expected AdminDisplayVersion like 'Version 15.2 (Build 1118.7)', found "
                f"{admin_display_version!r}; pass the value Get-ExchangeServer returns"
            )
        major, minor, build, revision = (int(part) for part in found.groups())
        return cls(major, minor, build, revision)

    @property
    def product(self) -> str:
        """The product name, such as ``Exchange 2016``."""
        if self.major == 14:
            return "Exchange 2010"
        names = {0: "2013", 1: "2016"}
        if self.major == 15 and self.minor in names:
            return f"Exchange {names[self.minor]}"
        return f"Exchange 2019 or later ({self.major}.{self.minor})"

    @property
    def is_2010(self) -> bool:
        """True for Exchange 2010 (version 14)."""
        return self.major == 14

    @property
    def scp_cmdlet_noun(self) -> str:
        """``ClientAccessService`` on 2016 and later, ``ClientAccessServer`` before."""
        if (self.major, self.minor) >= (15, 1):
            return "ClientAccessService"
        return "ClientAccessServer"

    @property
    def has_mapi_http(self) -> bool:
        """True from 2013 SP1 (15.0.847) on, where MAPI over HTTP exists."""
        return (self.major, self.minor, self.build) >= (15, 0, 847)


@dataclass(frozen=True)
class VirtualDirectoryPlan:
    """The URLs one virtual directory should have.

    Attributes:
        kind: The cmdlet noun without ``VirtualDirectory``: ``Owa``, ``Ecp``...
        name: The virtual directory name in its identity, such as ``owa``.
        internal_url: The desired ``InternalUrl``.
        external_url: The desired ``ExternalUrl``, or None to clear it.
    """

    kind: str
    name: str
    internal_url: str
    external_url: str | None

    def identity(self, server: str) -> str:
        """Return the identity on ``server``, such as ``EX01\\owa (Default Web Site)``."""
        return f"{server}\\{self.name} ({DEFAULT_WEB_SITE})"


@dataclass(frozen=True)
class OutlookAnywherePlan:
    """The host names Outlook Anywhere should publish.

    Attributes:
        internal_hostname: The desired ``InternalHostname``, None on 2010 where it is absent.
        external_hostname: The desired ``ExternalHostname``, or None to clear it.
    """

    internal_hostname: str | None
    external_hostname: str | None


@dataclass(frozen=True)
class UrlPlan:
    """Everything the ``virtual_directories`` task sets on one server."""

    version: ExchangeVersion
    virtual_directories: tuple[VirtualDirectoryPlan, ...]
    outlook_anywhere: OutlookAnywherePlan

    def host_names(self) -> frozenset[str]:
        """Every host name in the plan, which the IIS certificate must cover."""
        names: set[str] = set()
        for directory in self.virtual_directories:
            for url in (directory.internal_url, directory.external_url):
                if url is not None:
                    names.add(_host_of(url))
        for name in (
            self.outlook_anywhere.internal_hostname,
            self.outlook_anywhere.external_hostname,
        ):
            if name is not None:
                names.add(name)
        return frozenset(names)


def _host_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


# (kind, identity name, path) of each directory, in the order the task sets them.
_DIRECTORIES = (
    ("Owa", "owa", "/owa"),
    ("Ecp", "ecp", "/ecp"),
    ("WebServices", "EWS", "/EWS/Exchange.asmx"),
    ("ActiveSync", "Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync"),
    ("Oab", "OAB", "/OAB"),
    ("Mapi", "mapi", "/mapi"),
    ("Autodiscover", "Autodiscover", "/Autodiscover/Autodiscover.xml"),
)


def plan_urls(
    version: ExchangeVersion,
    namespace: str,
    *,
    internal_namespace: str | None = None,
    external: bool = True,
) -> UrlPlan:
    """Plan the internal and external URLs of one server from one namespace.

    Args:
        version: The server's version, from ``Get-ExchangeServer``.
        namespace: The external host name, such as ``mail.contoso.com``.
        internal_namespace: The internal host name; the external one when None, which is the
            usual single-namespace design.
        external: False clears the external URLs, for servers not published outside.

    Raises:
        ValueError: A namespace is not a valid host name or is a wildcard.
    """
    external_host = normalise_host(namespace)
    internal_host = normalise_host(internal_namespace or namespace)
    for host in (external_host, internal_host):
        if host.startswith("*."):
            raise ValueError(
                f"namespace {host!r} is a wildcard; give the host name clients connect to, "
                "such as mail.contoso.com"
            )

    directories = []
    for kind, name, path in _DIRECTORIES:
        if kind == "Mapi" and not version.has_mapi_http:
            continue
        if kind == "Autodiscover" and not version.is_2010:
            continue
        directories.append(
            VirtualDirectoryPlan(
                kind=kind,
                name=name,
                internal_url=f"https://{internal_host}{path}",
                external_url=f"https://{external_host}{path}" if external else None,
            )
        )

    outlook_anywhere = OutlookAnywherePlan(
        internal_hostname=None if version.is_2010 else internal_host,
        external_hostname=external_host if external else None,
    )
    return UrlPlan(version, tuple(directories), outlook_anywhere)


def scp_uri(autodiscover_host: str) -> str:
    """Return the ``AutoDiscoverServiceInternalUri`` for ``autodiscover_host``.

    Raises:
        ValueError: ``autodiscover_host`` is not a valid host name.
    """
    return f"https://{normalise_host(autodiscover_host)}/Autodiscover/Autodiscover.xml"
