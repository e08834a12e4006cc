"""Property tests: malformed values stop the whole run with exit 5, located, before any change.

Hypothesis generates bad remote IP ranges, domain names, device addresses and ``--extra-vars``
values. Each one goes through the command line against the in-process lab, in a playbook whose
first task would change the lab. Every run must exit 5, name the playbook line and the value,
say that nothing was applied, leave the lab state unwritten, and raise no exception.
"""

from __future__ import annotations

import ipaddress
import json
import os
import string
import tempfile
from pathlib import Path
from unittest import mock

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange_agent.cli import cli

ROOT = Path(__file__).resolve().parents[2]
LAB_INVENTORY = ROOT / "inventory" / "lab.yml"

# FUZZ_EXAMPLES raises the example count, as in tests/unit/test_config_fuzz.py.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# The first task adds ExchangeUsers to the frontend connector, a change the lab would save, so
# an applied task shows as a lab state file. Each later task takes one generated value.
PLAYBOOK = """\
- name: Bad input
  hosts: all
  tasks:
    - name: Main job first
      receive_connector:
        well_known: default-frontend
        permission_groups: {add: [ExchangeUsers]}
    - name: Relay for devices
      relay_connector:
        server: EX01
        name: Relay Devices
        remote_ip_ranges: ["{{ device_range }}"]
    - name: Remove a domain
      remove_email_domain:
        domain: "{{ domain }}"
    - name: SPF of the devices
      spf:
        domain: contoso.com
        addresses: ["{{ device_address }}"]
        nameservers: [127.0.0.1]
        timeout: 0.5
"""
# Lines of the arguments that take the generated values.
RELAY_LINE = 12
DOMAIN_LINE = 15
ADDRESS_LINE = 19
GOOD = {"device_range": "10.0.5.20", "domain": "fabrikam.com", "device_address": "10.0.5.20"}

# Characters a shell, PowerShell or YAML would treat specially.
HOSTILE = "'\"`$;|&<>(){}#\n\t\\ "
JUNK = st.text(alphabet=HOSTILE + string.ascii_letters + "ÄéßЖ中", min_size=1, max_size=12)
OCTET = st.integers(min_value=0, max_value=255)


def run(directory: Path, *extra_vars: str, output: str = "text") -> Result:
    """Run the playbook from ``directory`` against the in-process lab with ``-e`` values."""
    playbook = directory / "bad-input.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    args = ["run", str(playbook), "-i", str(LAB_INVENTORY), "--lab-transport", "inprocess"]
    args += ["--output", output]
    for value in extra_vars:
        args += ["-e", value]
    environment = {
        "EXCHANGE_AGENT_STATE_DIR": str(directory / "state"),
        "EXCHANGE_AGENT_LAB_SPEED": "200",
    }
    with mock.patch.dict(os.environ, environment):
        return CliRunner().invoke(cli, args, catch_exceptions=False)


def check_value(**values: str) -> None:
    """Run with the good values, ``values`` replacing one, and expect it rejected."""
    ((key, value),) = values.items()
    line = {"device_range": RELAY_LINE, "domain": DOMAIN_LINE}.get(key, ADDRESS_LINE)
    with tempfile.TemporaryDirectory(prefix="bad-input-") as name:
        directory = Path(name)
        result = run(directory, json.dumps({**GOOD, **values}))
        assert_rejected(result, directory, line, value)


def assert_rejected(result: Result, directory: Path, line: int | None, value: str) -> None:
    assert result.exit_code == 5, result.output
    assert "Traceback" not in result.output
    if line is not None:
        assert f"bad-input.yml:{line}:" in result.stderr
    assert repr(value) in result.stderr
    assert "nothing was applied" in result.stderr
    assert not (directory / "state" / "lab-state.json").exists()


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


BAD_RANGES = st.one_of(
    # An octet above 255.
    st.builds("{}.{}.{}.{}".format, st.integers(256, 999), OCTET, OCTET, OCTET),
    st.builds("10.{}.{}.{}".format, OCTET, OCTET, st.integers(256, 99999)),
    # A prefix length beyond the address size.
    st.builds("10.{}.{}.0/{}".format, OCTET, OCTET, st.integers(33, 200)),
    st.builds("fd00::/{}".format, st.integers(129, 500)),
    # A first-last range whose end comes first.
    st.tuples(st.integers(1, 255), st.integers(0, 254))
    .filter(lambda pair: pair[0] > pair[1])
    .map(lambda pair: f"10.0.5.{pair[0]}-10.0.5.{pair[1]}"),
    # Public internet addresses, refused without allow_public_ranges.
    st.ip_addresses(v=4).filter(lambda address: address.is_global).map(str),
    st.ip_addresses(v=6).filter(lambda address: address.is_global).map(str),
    # A CIDR block written with a device's address: host bits set.
    st.builds("10.0.5.{}/28".format, OCTET.filter(lambda octet: octet % 16 != 0)),
    # Private ranges wider than /24, refused without allow_broad_ranges.
    st.builds("10.{}.0.0/{}".format, OCTET, st.integers(8, 23)),
    st.builds("192.168.0.0/{}".format, st.integers(16, 23)),
    # Text that is no address at all.
    JUNK.filter(lambda text: not _is_address(text)),
)

LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
BAD_DOMAINS = st.one_of(
    # An address, not a domain.
    st.builds("{}@{}.com".format, LABEL, LABEL),
    # A wildcard.
    st.builds("*.{}.com".format, LABEL),
    # One label only.
    LABEL,
    # An empty label.
    st.builds("{}..{}".format, LABEL, LABEL),
    # A label with a leading or trailing hyphen.
    st.builds("-{}.com".format, LABEL),
    st.builds("{}-.com".format, LABEL),
    # A label longer than 63 characters.
    st.builds("{}.com".format, st.text(alphabet="abc", min_size=64, max_size=80)),
    # Characters no DNS name has, anywhere in the name.
    st.builds("{}{}.com".format, LABEL, st.text(alphabet=HOSTILE.strip() + "_ÄЖ", min_size=1)),
)

BAD_ADDRESSES = st.one_of(
    JUNK.filter(lambda text: not _is_address(text)),
    st.builds("{}.{}.{}.{}".format, st.integers(256, 999), OCTET, OCTET, OCTET),
    st.builds("10.0.0.{}/32".format, OCTET),
    st.builds("{}:{}::1".format, st.integers(0x10000, 0xFFFFF), OCTET),
)


@PROPERTY
@given(BAD_RANGES)
def test_bad_remote_ip_range_stops_the_run(value: str) -> None:
    check_value(device_range=value)


@PROPERTY
@given(BAD_DOMAINS)
def test_bad_domain_stops_the_run(value: str) -> None:
    check_value(domain=value)


@PROPERTY
@given(BAD_ADDRESSES)
def test_bad_device_address_stops_the_run(value: str) -> None:
    check_value(device_address=value)


BAD_EXTRA_VARS = st.one_of(
    # A name without a value.
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    # A name that is no identifier.
    st.builds("{}{}=x".format, st.sampled_from("0123456789-.$"), LABEL),
    # JSON that does not parse.
    st.builds('{{"{}": {}'.format, LABEL, st.sampled_from(["", "1", "[", '"x', "}}"])),
    # Unbalanced shell quotes.
    st.builds("{}='{}".format, LABEL, LABEL),
    st.builds('{}="{}'.format, LABEL, LABEL),
)


@PROPERTY
@given(BAD_EXTRA_VARS)
def test_bad_extra_vars_stop_the_run(value: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bad-input-") as name:
        directory = Path(name)
        result = run(directory, json.dumps(GOOD), value)
        assert_rejected(result, directory, None, value)


def test_extra_vars_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yml"
    extra.write_text("- 10.0.5.20\n", encoding="utf-8")
    result = run(tmp_path, f"@{extra}")
    assert result.exit_code == 5
    assert str(extra) in result.stderr
    assert "must contain a mapping" in result.stderr
    assert not (tmp_path / "state" / "lab-state.json").exists()


def test_good_values_pass_the_checks(tmp_path: Path) -> None:
    """The playbook itself is sound: with the good values the tasks run and change the lab."""
    result = run(tmp_path, json.dumps(GOOD), output="json")
    assert result.exit_code != 5, result.output
    statuses = {task["task"]: task["status"] for task in json.loads(result.stdout)["tasks"]}
    assert statuses["Main job first"] == "changed"
    assert statuses["Relay for devices"] == "changed"
    assert (tmp_path / "state" / "lab-state.json").exists()
