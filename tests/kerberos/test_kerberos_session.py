"""Kerberos through real pypsrp and pyspnego against a real KDC and a Kerberos-only lab server."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from exchange_agent.lab.server import LabServer
from exchange_agent.remote.command import Command
from exchange_agent.remote.errors import AuthenticationError, RemoteError, UnreachableError
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.settings import EndpointSettings
from support.kdc import ADMIN, ADMIN_PASSWORD, KEYTAB_USER, KerberosSetup, Realm


def settings(lab: LabServer, host: str = "ex01.lab.test", **options: object) -> EndpointSettings:
    return EndpointSettings(url=f"http://{host}:{lab.port}/PowerShell", **options)  # type: ignore[arg-type]


def connectors(settings: EndpointSettings) -> list[str]:
    # The session's own retry policy applies: a failure that it retried would show up in
    # the KDC's log.
    session = PsrpSession("ex01", settings, retry_wait=0.01)
    try:
        result = session.invoke(Command("Get-ReceiveConnector", {"Server": "EX01"}))
    finally:
        session.close()
    return [str(item["Identity"]) for item in result.output]


def failure(settings: EndpointSettings) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        connectors(settings)
    return caught.value


def test_password_gets_a_ticket_and_every_message_is_encrypted(kerberos_lab, empty_cache):
    names = connectors(
        settings(kerberos_lab, username=f"{ADMIN}@LAB.TEST", password=SecretStr(ADMIN_PASSWORD))
    )
    assert "EX01\\Default Frontend EX01" in names
    counters = kerberos_lab.knobs.counters()
    assert counters.get("encrypted_requests", 0) >= 4
    assert counters.get("plaintext_requests", 0) == 0
    # The password went to the KDC from memory; the default cache stays empty.
    assert not empty_cache.exists()
    assert kerberos_lab.open_shells() == 0


def test_existing_ticket_cache_is_used_without_a_password(
    kerberos: KerberosSetup, kerberos_lab, tmp_path, monkeypatch
):
    cache = tmp_path / "admin.ccache"
    kerberos.realm.kinit(ADMIN, ADMIN_PASSWORD, cache)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    assert "EX01\\Default Frontend EX01" in connectors(settings(kerberos_lab))
    listing = kerberos.realm.klist(cache)
    assert "HTTP/ex01.lab.test@LAB.TEST" in listing


def test_named_ticket_cache_overrides_the_default(
    kerberos: KerberosSetup, kerberos_lab, tmp_path, empty_cache
):
    cache = tmp_path / "named.ccache"
    kerberos.realm.kinit(ADMIN, ADMIN_PASSWORD, cache)
    names = connectors(
        settings(kerberos_lab, username=f"{ADMIN}@LAB.TEST", ticket_cache=f"FILE:{cache}")
    )
    assert "EX01\\Default Frontend EX01" in names
    assert not empty_cache.exists()


def test_keytab_authenticates_a_service_account(kerberos: KerberosSetup, kerberos_lab, empty_cache):
    names = connectors(
        settings(
            kerberos_lab, username=f"{KEYTAB_USER}@LAB.TEST", keytab=str(kerberos.client_keytab)
        )
    )
    assert "EX01\\Default Frontend EX01" in names


def test_lower_case_realm_is_upper_cased_by_the_inventory(kerberos_lab, empty_cache):
    from exchange_agent.config.inventory import kerberos_principal

    user = kerberos_principal(f"{ADMIN}@lab.test")
    assert user == f"{ADMIN}@LAB.TEST"
    names = connectors(settings(kerberos_lab, username=user, password=SecretStr(ADMIN_PASSWORD)))
    assert "EX01\\Default Frontend EX01" in names


def test_no_ticket_names_kinit(kerberos_lab, empty_cache):
    error = failure(settings(kerberos_lab))
    assert isinstance(error, AuthenticationError)
    assert "no Kerberos ticket" in str(error)
    assert "kinit" in str(error)


def test_user_case_differs_from_the_cached_ticket(kerberos: KerberosSetup, kerberos_lab, tmp_path):
    cache = tmp_path / "admin.ccache"
    kerberos.realm.kinit(ADMIN, ADMIN_PASSWORD, cache)
    error = failure(
        settings(kerberos_lab, username="LAB-ADMIN@LAB.TEST", ticket_cache=f"FILE:{cache}")
    )
    assert isinstance(error, AuthenticationError)
    assert "LAB-ADMIN@LAB.TEST" in str(error)
    assert "case-sensitive" in str(error)


def test_unknown_user_case_is_named_without_a_retry(kerberos: KerberosSetup, kerberos_lab):
    error = failure(
        settings(kerberos_lab, username="Lab-Admin@LAB.TEST", password=SecretStr(ADMIN_PASSWORD))
    )
    assert isinstance(error, AuthenticationError)
    assert "Lab-Admin@LAB.TEST" in str(error)
    assert "case-sensitive" in str(error)


def test_wrong_password_is_tried_once(kerberos: KerberosSetup, kerberos_lab, empty_cache):
    log = kerberos.realm.directory / "kdc.log"
    before = log.read_text().count("PREAUTH_FAILED")
    error = failure(
        settings(kerberos_lab, username=f"{ADMIN}@LAB.TEST", password=SecretStr("wrong-pw"))
    )
    assert isinstance(error, AuthenticationError)
    assert "password" in str(error)
    assert "wrong-pw" not in str(error)
    # One failed pre-authentication per attempt counts towards the account's lockout.
    assert log.read_text().count("PREAUTH_FAILED") - before == 1


def test_name_without_a_service_principal_is_unreachable(kerberos_lab, empty_cache):
    # A load-balanced name with no HTTP/<name> principal, as in a shared client access name.
    error = failure(
        settings(
            kerberos_lab,
            host="mail.lab.test",
            username=f"{ADMIN}@LAB.TEST",
            password=SecretStr(ADMIN_PASSWORD),
        )
    )
    assert isinstance(error, UnreachableError)
    assert "HTTP/mail.lab.test" in str(error)
    assert "alternate service account" in str(error)


def test_server_refuses_ntlm_as_exchange_does(kerberos_lab):
    error = failure(
        settings(kerberos_lab, auth="ntlm", username=ADMIN, password=SecretStr(ADMIN_PASSWORD))
    )
    assert isinstance(error, AuthenticationError)
    assert kerberos_lab.knobs.counters().get("encrypted_requests", 0) == 0


def test_unreachable_kdc_is_named(kerberos: KerberosSetup, kerberos_lab, tmp_path, monkeypatch):
    config = tmp_path / "krb5.conf"
    text = kerberos.realm.krb5_conf.read_text()
    config.write_text(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:9", text))
    monkeypatch.setenv("KRB5_CONFIG", str(config))
    error = failure(
        settings(kerberos_lab, username=f"{ADMIN}@LAB.TEST", password=SecretStr(ADMIN_PASSWORD))
    )
    assert isinstance(error, UnreachableError)
    assert "KDC" in str(error)
    assert "LAB.TEST" in str(error)


def test_clock_skew_is_named(kerberos: KerberosSetup, kerberos_lab, tmp_path, monkeypatch):
    # A second KDC for the same realm whose clock runs ten minutes ahead.
    skewed = Realm(tmp_path / "skewed", kdc_clock_offset=600)
    monkeypatch.setenv("KRB5_CONFIG", str(skewed.krb5_conf))
    monkeypatch.setenv("KRB5_KDC_PROFILE", str(skewed.directory / "kdc.conf"))
    skewed.start()
    try:
        skewed.add_user(ADMIN, ADMIN_PASSWORD)
        skewed.add_service("ex01.lab.test", tmp_path / "unused.keytab")
        error = failure(
            settings(kerberos_lab, username=f"{ADMIN}@LAB.TEST", password=SecretStr(ADMIN_PASSWORD))
        )
    finally:
        skewed.stop()
    assert isinstance(error, AuthenticationError)
    assert "clock" in str(error)
