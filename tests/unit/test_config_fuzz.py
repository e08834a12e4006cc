"""Property tests: any inventory or playbook file either loads or raises ConfigError."""

import contextlib
import json
import os
import string
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange_agent.config import load_inventory, load_playbook, select_hosts
from exchange_agent.config.inventory import EndpointConfig
from exchange_agent.config.yaml import parse_yaml
from exchange_agent.errors import ConfigError

# FUZZ_EXAMPLES raises the example count for a longer local search. The default of 100 keeps
# this file to a few seconds.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Characters with meaning in YAML, plus enough letters to form keys and scalars.
YAML_CHARACTERS = ":-{}[],'\"&*|>#?%@!<` \n\t." + "abhostvr01"

INVENTORY_KEYS = [
    "all",
    "groups",
    "hosts",
    "vars",
    "fqdn",
    "exchange",
    "windows",
    "lab",
    "url",
    "auth",
    "username",
    "password",
    "env",
    "ex01",
]
PLAYBOOK_KEYS = [
    "name",
    "hosts",
    "vars",
    "tasks",
    "handlers",
    "notify",
    "tags",
    "service",
    "relay_connector",
    "restart",
]
SCALAR_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ./-_@\\", max_size=20)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    SCALAR_TEXT,
    st.sampled_from(["kerberos", "basic", "never", "all", "ex01", "{{ x }}"]),
)
HOST_NAMES = st.sampled_from(["ex01", "ex02", "EX01", "mail.contoso.com"])
URLS = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https", "ftp", ""]),
    st.sampled_from(["ex01.contoso.com", "MAIL.contoso.com", "10.0.0.5", "[fd00::1]", ""])
    | SCALAR_TEXT,
    st.sampled_from(["", ":5985", ":5986", ":443", ":0"]),
    st.sampled_from(["/PowerShell", "/wsman", "/WSMan/", ""]),
)
ENDPOINT = st.fixed_dictionaries(
    {},
    optional={
        "url": URLS | SCALARS,
        "auth": st.sampled_from(["negotiate", "kerberos", "ntlm", "basic", "certificate", "x"]),
        "username": st.sampled_from(["admin@contoso.com", "CONTOSO\\admin", "a@b@c"]) | SCALARS,
        "password": st.sampled_from(
            [{"env": "EX_FUZZ_PASSWORD"}, {"file": "/nonexistent"}, {"env": "A", "file": "B"}]
        )
        | SCALARS,
        "cert_validation": st.booleans() | SCALARS,
        "encryption": st.sampled_from(["auto", "always", "never", "sometimes"]),
        "allow_unencrypted_basic": st.booleans(),
        "max_concurrency": st.integers(min_value=-1, max_value=20),
        "operation_timeout": st.floats(min_value=-1, max_value=1000),
        "read_timeout": st.floats(min_value=-1, max_value=1000),
        "configuration_name": SCALARS,
        "bogus": SCALARS,
    },
)


def _nested(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.sampled_from(keys) | SCALAR_TEXT, children, max_size=5),
        ),
        max_leaves=20,
    )


VARS = st.dictionaries(SCALAR_TEXT, _nested(INVENTORY_KEYS), max_size=3)
HOST = st.fixed_dictionaries(
    {},
    optional={
        "fqdn": st.sampled_from(["ex01.contoso.com", "10.0.0.5", ""]) | SCALAR_TEXT,
        "server": SCALARS,
        "vars": VARS,
        "exchange": ENDPOINT | st.none(),
        "windows": ENDPOINT | st.none(),
        "lab": st.none() | st.just({}),
    },
)
GROUP = st.fixed_dictionaries(
    {}, optional={"hosts": st.lists(HOST_NAMES | SCALAR_TEXT, max_size=3), "vars": VARS}
)
INVENTORY = st.fixed_dictionaries(
    {"hosts": st.dictionaries(HOST_NAMES, HOST, max_size=3)},
    optional={
        "groups": st.dictionaries(st.sampled_from(["mailbox", "ex01", "edge"]), GROUP, max_size=2),
        "all": st.fixed_dictionaries({}, optional={"vars": VARS}),
        "extra": SCALARS,
    },
)


def _write(text: str) -> Path:
    # Hypothesis runs many examples per test, so each gets its own file instead of tmp_path.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed before use)
        "w", suffix=".yml", delete=False, encoding="utf-8"
    )
    with handle:
        handle.write(text)
    return Path(handle.name)


def _build_settings(endpoint: EndpointConfig | None) -> None:
    if endpoint is None:
        return
    endpoint_settings = endpoint.to_settings()
    assert endpoint_settings.url == endpoint.url


def _load_both(text: str) -> None:
    path = _write(text)
    try:
        with contextlib.suppress(ConfigError):
            inventory = load_inventory(path)
            assert select_hosts(inventory, "all") == list(inventory.hosts)
            for host in inventory.hosts.values():
                _build_settings(host.exchange)
                _build_settings(host.windows)
        with contextlib.suppress(ConfigError):
            load_playbook(path, ["service", "relay_connector"])
    finally:
        path.unlink()


@FUZZ
@given(st.text(alphabet=YAML_CHARACTERS, max_size=120))
def test_yaml_ish_text_loads_or_config_error(text: str) -> None:
    _load_both(text)


@FUZZ
@given(st.text(max_size=60))
def test_any_text_parses_or_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_yaml(text, "fuzz.yml")


@FUZZ
@given(_nested(INVENTORY_KEYS))
def test_nested_structure_loads_or_config_error(data: Any) -> None:
    _load_both(json.dumps(data))


@FUZZ
@given(INVENTORY)
def test_inventory_shaped_loads_or_config_error(data: dict[str, Any]) -> None:
    _load_both(json.dumps(data))


@FUZZ
@given(st.lists(_nested(PLAYBOOK_KEYS), max_size=3))
def test_nested_playbook_loads_or_config_error(plays: list[Any]) -> None:
    _load_both(json.dumps(plays))
