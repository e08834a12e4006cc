"""Validation shared by every DNS client of the project: only named nameservers are asked."""

from __future__ import annotations

import ipaddress


def check_nameservers(nameservers: tuple[str, ...], port: int, timeout: float) -> None:
    """Check DNS settings: at least one nameserver IP address, a valid port, a timeout.

    Raises:
        ValueError: A setting is invalid; the message names the value and what is expected.
    """
    if not nameservers:
        raise ValueError("DNS settings need at least one nameserver IP address, found none")
    for address in nameservers:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(
                f"nameserver {address!r} is not an IP address; give the DNS server's "
                "IPv4 or IPv6 address"
            ) from None
    if not 0 < port < 65536:
        raise ValueError(f"DNS port must be between 1 and 65535, found {port}")
    if timeout <= 0:
        raise ValueError(f"DNS timeout must be positive seconds, found {timeout}")
