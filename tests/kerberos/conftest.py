"""A throwaway realm, a KDC on loopback and a lab server that accepts only Kerberos.

``.ci/run`` installs MIT Kerberos and sets ``EXCHANGE_AGENT_REQUIRE_KERBEROS=1``, so there a
missing tool fails the suite. A developer's plain ``pytest`` without MIT Kerberos skips these
tests and says what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab
from support.kdc import (
    ADMIN,
    ADMIN_PASSWORD,
    KEYTAB_USER,
    KerberosSetup,
    Realm,
    kerberos_tools_missing,
    resolve_to_loopback,
)


def _missing() -> str | None:
    missing = kerberos_tools_missing()
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError:
        missing.append("the gssapi and krb5 Python packages (pip install -e '.[kerberos]')")
    if not missing:
        return None
    return (
        f"Kerberos tests need {', '.join(missing)}; on Debian: apt-get install krb5-kdc "
        "krb5-admin-server krb5-user libkrb5-dev faketime, then pip install -e '.[kerberos]'"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    for item in items:
        if "tests/kerberos/" not in item.nodeid.replace(os.sep, "/"):
            continue
        item.add_marker(pytest.mark.kerberos)
        if reason is not None and os.environ.get("EXCHANGE_AGENT_REQUIRE_KERBEROS") != "1":
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def kerberos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KerberosSetup]:
    reason = _missing()
    if reason is not None:
        pytest.fail(reason)
    directory = tmp_path_factory.mktemp("realm")
    realm = Realm(directory).start()
    saved = {name: os.environ.get(name) for name in realm.env}
    os.environ.update(realm.env)
    try:
        realm.add_user(ADMIN, ADMIN_PASSWORD)
        realm.add_user(KEYTAB_USER, "unused-random-Pw-1")
        service_keytab = directory / "http.keytab"
        realm.add_service("ex01.lab.test", service_keytab)
        realm.add_service("ex02.lab.test", service_keytab)
        client_keytab = realm.export_keytab(KEYTAB_USER, directory / "svc-exch.keytab")
        yield KerberosSetup(realm, service_keytab, client_keytab)
    finally:
        realm.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def kerberos_lab(kerberos: KerberosSetup) -> Iterator[LabServer]:
    """A lab server accepting Kerberos only, reachable as ex01.lab.test and ex02.lab.test."""
    engine = LabEngine(open_lab(), clock=Clock(speed=200))
    server = LabServer(
        engine,
        auth="kerberos",
        keytab=kerberos.service_keytab,
        users={ADMIN: "-", KEYTAB_USER: "-"},
    )
    with server, resolve_to_loopback():
        yield server


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default credential cache at a file that does not exist yet."""
    cache = tmp_path / "empty.ccache"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    return cache
