"""A DNS server on 127.0.0.1 that serves zone data the test owns.

It implements what the Autodiscover checks depend on: A, AAAA, CNAME (followed inside the
zone), SRV, wildcard owners ``*.<parent>`` that answer for names with no records of their own
(RFC 4592, simplified to one level), NXDOMAIN, and SERVFAIL for chosen names. It never forwards
a query anywhere.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Zone = dict[str, list[tuple[str, str]]]


class LoopbackDnsServer:
    """Serve UDP queries on 127.0.0.1 from ``zone`` until closed.

    Args:
        zone: Owner name (absolute, no trailing dot, may start with ``*.``) to a list of
            ``(type, value)`` pairs in zone-file text, such as ``("A", "198.51.100.10")`` or
            ``("SRV", "0 0 443 mail.contoso.com.")``.
        servfail: Names answered with SERVFAIL, to test lookup failures.
    """

    def __init__(self, zone: Zone, servfail: frozenset[str] = frozenset()) -> None:
        self.zone = {name.lower().rstrip("."): records for name, records in zone.items()}
        self.servfail = {name.lower().rstrip(".") for name in servfail}
        self.queries: list[tuple[str, str]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        # A short timeout lets the thread see the stop event: close() alone does not wake
        # a recvfrom() blocked in another thread on Linux.
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self.address = "127.0.0.1"
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self) -> LoopbackDnsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and release the socket."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                request = dns.message.from_wire(data)
            except dns.exception.DNSException:
                continue
            self._socket.sendto(self._answer(request).to_wire(), peer)

    def _records(self, name: str) -> list[tuple[str, str]] | None:
        if name in self.zone:
            return self.zone[name]
        parent = name.split(".", 1)[1] if "." in name else ""
        return self.zone.get(f"*.{parent}")

    def _answer(self, request: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(request)
        response.flags |= dns.flags.AA
        question = request.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, qtype))
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response

        owner = question.name
        for _ in range(8):  # Follow at most eight CNAMEs, as a guard against loops.
            records = self._records(name)
            if records is None:
                if owner == question.name:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            cname = [value for rtype, value in records if rtype == "CNAME"]
            if cname and qtype != "CNAME":
                response.answer.append(_rrset(owner, "CNAME", cname))
                owner = dns.name.from_text(cname[0])
                name = owner.to_text(omit_final_dot=True).lower()
                continue
            values = [value for rtype, value in records if rtype == qtype]
            if values:
                response.answer.append(_rrset(owner, qtype, values))
            return response
        return response


def _rrset(owner: dns.name.Name, rtype: str, values: list[str]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(owner, 300, dns.rdataclass.IN, rtype, values)
