"""Inventory loading: validation errors located in the file, security checks and warnings."""

from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import SecretStr

from exchange_agent.config import kerberos_principal, load_inventory
from exchange_agent.config.inventory import Inventory
from exchange_agent.errors import ConfigError, ConfigErrors, SourceLocation


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str) -> Inventory:
    return load_inventory(_write(tmp_path, text))


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigErrors) as caught:
        load_inventory(path)
    prefix = f"{path}:"
    return [str(error).removeprefix(prefix) for error in caught.value.errors]


class TestStructure:
    def test_minimal_host_defaults(self, tmp_path: Path) -> None:
        inventory = _load(tmp_path, "hosts:\n  ex01.contoso.com: {}\n")

        host = inventory.hosts["ex01.contoso.com"]
        assert host.fqdn == "ex01.contoso.com"
        assert host.server == "EX01"
        assert host.exchange is not None
        assert host.exchange.url == "http://ex01.contoso.com/PowerShell"
        assert host.exchange.configuration_name == "Microsoft.Exchange"
        assert host.windows is None
        assert inventory.warnings == []

    def test_windows_endpoint_defaults(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path, "hosts:\n  ex01:\n    fqdn: ex01.contoso.com\n    windows: {}\n"
        )

        windows = inventory.hosts["ex01"].windows
        assert windows is not None
        assert windows.url == "https://ex01.contoso.com:5986/wsman"
        assert windows.configuration_name == "Microsoft.PowerShell"
        assert windows.location == SourceLocation(inventory.path, 4, 5)

    def test_vars_merge_order(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            all:
              vars: {level: all, only_all: 1}
            groups:
              mailbox:
                hosts: [ex01]
                vars: {level: group, only_group: 2}
            hosts:
              ex01:
                vars: {level: host}
              ex02: {}
            """,
        )

        ex01 = inventory.hosts["ex01"]
        assert ex01.vars["level"] == "host"
        assert ex01.vars["only_all"] == 1
        assert ex01.vars["only_group"] == 2
        assert ex01.vars["exchange_server"] == "EX01"
        assert ex01.vars["inventory_hostname"] == "ex01"
        assert ex01.groups == ("mailbox",)
        assert inventory.hosts["ex02"].vars["level"] == "all"
        assert inventory.hosts["ex02"].groups == ()
        assert inventory.groups == {"mailbox": ("ex01",)}

    def test_top_level_not_mapping(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "- ex01\n")

        with pytest.raises(ConfigError) as caught:
            load_inventory(path)

        assert str(caught.value) == f"{path}:1:1: an inventory must be a mapping with a hosts key"

    def test_hosts_missing(self, tmp_path: Path) -> None:
        assert _errors(tmp_path, "groups: {}\n") == ["1:1: hosts is required"]

    def test_bad_yaml_syntax(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "hosts:\n  ex01: {fqdn: x\n")

        with pytest.raises(ConfigError) as caught:
            load_inventory(path)

        assert str(caught.value) == (
            f"{path}:3:1: invalid YAML: expected ',' or '}}', but got '<stream end>'"
        )

    def test_duplicate_host(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "hosts:\n  ex01: {}\n  ex02: {}\n  ex01: {}\n")

        with pytest.raises(ConfigError) as caught:
            load_inventory(path)

        assert str(caught.value) == (
            f'{path}:4:3: duplicate key: duplicate key "ex01" with value "{{}}" '
            '(original value: "{}"); each key may appear once in a mapping'
        )

    def test_unknown_top_level_field_located(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "hosts: {}\ngrops: {}\n")

        assert errors[0].startswith("2:1: unknown field grops")

    def test_unknown_endpoint_field_located(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path, "hosts:\n  ex01:\n    exchange:\n      pasword: {env: EX_PASSWORD}\n"
        )

        assert errors[0].startswith("4:7: unknown field hosts.ex01.exchange.pasword")

    def test_unknown_key_with_bracket(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, 'hosts: {}\n"a[": 1\n')

        assert errors == ["2:1: unknown field a["]

    def test_host_name_with_bracket_in_error(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, 'hosts:\n  "ex[1]":\n    exchange: {bogus: 1}\n')

        assert errors[0].startswith("3:16: unknown field hosts.ex[1].exchange.bogus")

    def test_unknown_top_level_field_suggests(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "hosts: {}\ngrops: {}\n")

        assert errors == ["2:1: unknown field grops (did you mean 'groups'?)"]

    def test_unknown_endpoint_field_suggests(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path, "hosts:\n  ex01:\n    exchange:\n      pasword: {env: EX_PASSWORD}\n"
        )

        assert errors == [
            "4:7: unknown field hosts.ex01.exchange.pasword (did you mean 'password'?)"
        ]

    def test_invalid_values_each_located(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange:
                  max_concurrency: 18
                  connect_timeout: 0
                  auth: kerberoz
            """,
        )

        assert sorted(errors) == [
            "4:7: hosts.ex01.exchange.max_concurrency: Input should be less than or equal "
            "to 17 (got 18)",
            "5:7: hosts.ex01.exchange.connect_timeout: Input should be greater than 0 (got 0)",
            "6:7: hosts.ex01.exchange.auth: Input should be 'negotiate', 'kerberos', 'ntlm', "
            "'basic', 'credssp' or 'certificate' (got 'kerberoz')",
        ]

    def test_group_names_unknown_host(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            groups:
              mailbox:
                hosts: [ex01, ex3]
            hosts:
              ex01: {}
              ex03: {}
            """,
        )

        assert errors == ["3:19: group mailbox names unknown host 'ex3' (did you mean 'ex03'?)"]

    def test_group_unknown_host_without_close_match(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "groups:\n  g:\n    hosts: [zzz]\nhosts:\n  ex01: {}\n")

        assert errors == ["3:13: group g names unknown host 'zzz'"]

    def test_name_both_host_and_group(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "groups:\n  ex01:\n    hosts: []\nhosts:\n  ex01: {}\n")

        assert errors == ["2:3: 'ex01' is both a host and a group"]

    def test_invalid_url_scheme(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path, "hosts:\n  ex01:\n    exchange:\n      url: ftp://ex01/PowerShell\n"
        )

        assert errors == [
            "4:7: ex01.exchange.url 'ftp://ex01/PowerShell' is invalid: "
            "expected http(s)://<fqdn>[:port]/<path>"
        ]


class TestSecurityChecks:
    def test_basic_over_http_rejected(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange:
                  url: http://ex01.contoso.com/PowerShell
                  auth: basic
                  username: admin@contoso.com
            """,
        )

        assert errors == [
            "5:7: ex01.exchange: Basic authentication over http would send the password and "
            "every command unencrypted. Use auth: kerberos (messages are encrypted over http) "
            "or an https URL."
        ]

    def test_basic_over_https_accepted(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange:
                  url: https://ex01.contoso.com/PowerShell
                  auth: basic
                  username: admin@contoso.com
            """,
        )

        exchange = inventory.hosts["ex01"].exchange
        assert exchange is not None
        assert exchange.model.auth == "basic"

    def test_basic_over_http_with_explicit_opt_in(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange:
                  url: http://ex01.contoso.com/PowerShell
                  auth: basic
                  allow_unencrypted_basic: true
            """,
        )

        exchange = inventory.hosts["ex01"].exchange
        assert exchange is not None
        assert exchange.model.allow_unencrypted_basic is True

    def test_basic_opt_in_builds_settings(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange:
                  url: http://ex01.contoso.com/PowerShell
                  auth: basic
                  allow_unencrypted_basic: true
            """,
        )

        exchange = inventory.hosts["ex01"].exchange
        assert exchange is not None
        assert exchange.to_settings().encryption == "never"

    def test_encryption_never_over_http_with_kerberos(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange:
                  url: http://ex01.contoso.com/PowerShell
                  encryption: never
            """,
        )

        assert errors == [
            "5:7: ex01.exchange.encryption: never is rejected over http; remove it "
            "(kerberos encrypts the messages)."
        ]

    def test_ip_address_with_kerberos(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path, "hosts:\n  ex01:\n    exchange:\n      url: http://10.0.0.5/PowerShell\n"
        )

        assert errors == [
            "4:7: ex01.exchange.url uses an IP address; Kerberos needs the server's FQDN "
            "(it asks for the SPN HTTP/<fqdn>)."
        ]

    def test_ipv6_address_with_negotiate(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      url: http://[fd00::5]/PowerShell\n"
            "      auth: negotiate\n",
        )

        assert len(errors) == 1
        assert errors[0].startswith("4:7: ex01.exchange.url uses an IP address")

    def test_ip_address_with_ntlm_accepted(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      url: https://10.0.0.5/PowerShell\n"
            "      auth: ntlm\n",
        )

        assert "ex01" in inventory.hosts

    def test_lab_host_skips_checks(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                lab: {}
                exchange:
                  url: http://127.0.0.1/PowerShell
                  auth: basic
            """,
        )

        assert inventory.hosts["ex01"].lab is not None
        assert inventory.warnings == []

    def test_password_without_username(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "hosts:\n  ex01:\n    windows:\n      password: {env: EX_PASSWORD}\n",
        )

        assert errors == ["3:5: ex01.windows: password given without username"]

    def test_all_errors_reported_together(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            groups:
              g:
                hosts: [nobody]
            hosts:
              ex01:
                exchange:
                  url: http://10.0.0.5/PowerShell
                  encryption: never
            """,
        )

        assert len(errors) == 3


class TestWarnings:
    def test_exchange_url_on_winrm_port(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                fqdn: ex01.contoso.com
                exchange:
                  url: http://ex01.contoso.com:5985/wsman
            """,
        )

        assert inventory.warnings == [
            f"{inventory.path}:4:5: ex01.exchange.url http://ex01.contoso.com:5985/wsman "
            "looks like the Windows endpoint; Exchange serves remote PowerShell from IIS at "
            "http://ex01.contoso.com/PowerShell"
        ]

    def test_exchange_url_wsman_path(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      url: https://ex01.contoso.com/WSMan/\n",
        )

        assert len(inventory.warnings) == 1
        assert "looks like the Windows endpoint" in inventory.warnings[0]

    def test_ntlm_on_exchange(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      auth: ntlm\n",
        )

        assert inventory.warnings == [
            f"{inventory.path}:3:5: ex01.exchange uses ntlm; Exchange's PowerShell virtual "
            "directory accepts Kerberos by default"
        ]

    def test_ntlm_on_loopback_lab_not_warned(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      url: http://127.0.0.1:8080/PowerShell\n"
            "      auth: ntlm\n",
        )

        assert inventory.warnings == []

    def test_cert_validation_disabled(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                fqdn: ex01.contoso.com
                windows:
                  cert_validation: false
            """,
        )

        assert inventory.warnings == [
            "TLS certificate validation is disabled for ex01.contoso.com:5986 by "
            f"{inventory.path}:4:5."
        ]

    def test_cert_validation_ignored_over_http(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path, "hosts:\n  ex01:\n    exchange:\n      cert_validation: false\n"
        )

        assert inventory.warnings == []

    def test_hosts_share_exchange_url_host(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange: {url: https://mail.contoso.com/PowerShell}
              ex02:
                exchange: {url: https://MAIL.contoso.com/PowerShell}
              ex03: {}
            """,
        )

        assert inventory.warnings == [
            "hosts ex01, ex02 share the Exchange URL host mail.contoso.com; server-scoped "
            "tasks pass -Server for each, but Kerberos needs an SPN for that name"
        ]


class TestCredentials:
    @pytest.mark.parametrize(
        ("written", "expected"),
        [
            ("admin@contoso.com", "admin@CONTOSO.COM"),
            ("Admin.User@Contoso.Local", "Admin.User@CONTOSO.LOCAL"),
            ("svc@sub@contoso.com", "svc@sub@CONTOSO.COM"),
            ("CONTOSO\\admin", "CONTOSO\\admin"),
            ("contoso\\admin@x", "contoso\\admin@x"),
            ("admin", "admin"),
        ],
    )
    def test_kerberos_principal(self, written: str, expected: str) -> None:
        assert kerberos_principal(written) == expected

    def test_endpoint_username_realm_upper(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      username: Admin@contoso.com\n",
        )

        exchange = inventory.hosts["ex01"].exchange
        assert exchange is not None
        assert exchange.username == "Admin@CONTOSO.COM"
        assert exchange.model.username == "Admin@contoso.com"
        assert exchange.to_settings().username == "Admin@CONTOSO.COM"

    def test_password_resolved_from_env(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("EX_TEST_PASSWORD", "Hunter2-Secret")
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01:
                exchange:
                  url: https://ex01.contoso.com/PowerShell
                  username: admin@contoso.com
                  password: {env: EX_TEST_PASSWORD}
            """,
        )

        exchange = inventory.hosts["ex01"].exchange
        assert exchange is not None
        password = exchange.resolve_password()
        assert isinstance(password, SecretStr)
        assert password.get_secret_value() == "Hunter2-Secret"
        settings = exchange.to_settings(password)
        for text in (repr(inventory), str(inventory), repr(settings), str(settings)):
            assert "Hunter2-Secret" not in text
        assert exchange.to_settings().password is None

    def test_no_password_resolves_to_none(self, tmp_path: Path) -> None:
        inventory = _load(tmp_path, "hosts:\n  ex01: {}\n")

        exchange = inventory.hosts["ex01"].exchange
        assert exchange is not None
        assert exchange.resolve_password() is None

    def test_read_timeout_raised_above_operation(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      operation_timeout: 60\n      read_timeout: 30\n",
        )

        exchange = inventory.hosts["ex01"].exchange
        assert exchange is not None
        assert exchange.to_settings().read_timeout == 70

    def test_literal_password_not_echoed(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      username: a@contoso.com\n"
            "      password: Hunter2-Secret\n",
        )

        assert len(errors) == 1
        assert errors[0].startswith("5:7: hosts.ex01.exchange.password")
        assert "Hunter2-Secret" not in errors[0]


class TestUnparsableUrls:
    def test_non_numeric_port(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      url: http://ex01.contoso.com:abc/PowerShell\n",
        )

        assert errors[0].startswith("4:7: ex01.exchange.url ")

    def test_port_out_of_range(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            "hosts:\n  ex01:\n    exchange:\n      url: https://ex01.contoso.com:99999/PowerShell\n",
        )

        assert errors[0].startswith("4:7: ex01.exchange.url ")

    def test_unbalanced_bracket_in_fqdn(self, tmp_path: Path) -> None:
        errors = _errors(tmp_path, "hosts:\n  ex01:\n    fqdn: '[ex01'\n")

        assert errors[0].startswith("2:3: ex01.exchange.url ")


class TestKerberosCredentials:
    def test_keytab_is_found_next_to_the_inventory(self, tmp_path: Path) -> None:
        (tmp_path / "svc.keytab").write_bytes(b"\x05\x02")
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01.contoso.com:
                exchange: {username: svc-exch@contoso.com, keytab: svc.keytab}
            """,
        )

        endpoint = inventory.hosts["ex01.contoso.com"].exchange
        assert endpoint is not None
        settings = endpoint.to_settings()
        assert settings.keytab == str(tmp_path / "svc.keytab")
        assert settings.username == "svc-exch@CONTOSO.COM"
        assert settings.password is None

    def test_ticket_cache_reaches_the_settings(self, tmp_path: Path) -> None:
        inventory = _load(
            tmp_path,
            """\
            hosts:
              ex01.contoso.com:
                exchange: {ticket_cache: "FILE:/tmp/krb5cc_svc"}
            """,
        )

        endpoint = inventory.hosts["ex01.contoso.com"].exchange
        assert endpoint is not None
        assert endpoint.to_settings().ticket_cache == "FILE:/tmp/krb5cc_svc"

    def test_missing_keytab_names_the_file_and_line(self, tmp_path: Path) -> None:
        errors = _errors(
            tmp_path,
            """\
            hosts:
              ex01.contoso.com:
                exchange:
                  username: svc-exch@CONTOSO.COM
                  keytab: missing.keytab
            """,
        )

        assert len(errors) == 1
        assert errors[0].startswith("5:")
        assert "'missing.keytab' is not a readable file" in errors[0]
        assert str(tmp_path / "missing.keytab") in errors[0]

    def test_keytab_needs_a_principal_and_kerberos(self, tmp_path: Path) -> None:
        (tmp_path / "svc.keytab").write_bytes(b"\x05\x02")
        errors = _errors(
            tmp_path,
            """\
            hosts:
              ex01.contoso.com:
                exchange: {auth: ntlm, keytab: svc.keytab}
            """,
        )

        assert any("keytab needs auth: kerberos (found auth: ntlm)" in e for e in errors)
        assert any("keytab needs username" in e for e in errors)

    def test_keytab_and_password_are_exclusive(self, tmp_path: Path) -> None:
        (tmp_path / "svc.keytab").write_bytes(b"\x05\x02")
        errors = _errors(
            tmp_path,
            """\
            hosts:
              ex01.contoso.com:
                exchange:
                  username: svc-exch@CONTOSO.COM
                  password: {env: EXCH_PASSWORD}
                  keytab: svc.keytab
            """,
        )

        assert errors == [
            "6:7: ex01.contoso.com.exchange: give one of keytab, password and ticket_cache"
        ]
