"""Measure serving realistic Exchange objects through the lab server and the pypsrp session.

Each object has 200 properties shaped like a Get-Mailbox result: strings, booleans, sizes as
text, GUIDs and multi-valued properties. The lab server and the client run in this process on
127.0.0.1, so the CPU figure covers both ends.

    python benchmarks/lab_output.py --objects 1000 [--json]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import SecretStr

from exchange_agent.lab.contract import CmdletCall, LabEvent, LabObject, MultiValued
from exchange_agent.lab.server import LabServer
from exchange_agent.output.logging import configure_logging
from exchange_agent.remote.command import Command
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.settings import EndpointSettings

TYPE_NAMES = (
    "Microsoft.Exchange.Data.Directory.Management.Mailbox",
    "Microsoft.Exchange.Data.Directory.Management.MailEnabledOrgPerson",
    "Microsoft.Exchange.Data.Directory.ADPresentationObject",
    "System.Object",
)


def mailbox(index: int) -> LabObject:
    properties: dict[str, Any] = {}
    for number in range(120):
        properties[f"Text{number}"] = f"value {number} of mailbox {index}"
    for number in range(30):
        properties[f"Flag{number}"] = number % 2 == 0
    for number in range(20):
        properties[f"Quota{number}"] = "36 MB (37,748,736 bytes)"
    for number in range(25):
        properties[f"List{number}"] = MultiValued(
            (f"smtp:user{index}.{number}@contoso.com", f"X500:/o=Contoso/cn=u{index}")
        )
    properties["Guid"] = uuid.UUID(int=index)
    properties["Identity"] = f"contoso.com/Users/user{index}"
    properties["Name"] = f"user{index}"
    properties["Alias"] = f"user{index}"
    properties["PrimarySmtpAddress"] = f"user{index}@contoso.com"
    return LabObject(TYPE_NAMES, f"user{index}", properties)


class MailboxEngine:
    """An engine that returns ``count`` prebuilt mailbox objects for any command."""

    def __init__(self, count: int) -> None:
        self.objects = [mailbox(index) for index in range(count)]

    def invoke(
        self, pipeline: list[CmdletCall], *, endpoint: str, user: str, server: str | None = None
    ) -> Iterator[LabEvent]:
        yield from self.objects


def measure(count: int) -> dict[str, float]:
    engine = MailboxEngine(count)
    with LabServer(engine, users={"bench": "bench-pw"}) as server:  # type: ignore[arg-type]
        settings = EndpointSettings(
            url=server.exchange_url,
            auth="basic",
            username="bench",
            password=SecretStr("bench-pw"),
            encryption="never",
        )
        session = PsrpSession("bench", settings)
        session.invoke(Command("Get-Mailbox", {"Identity": "warm-up"}))
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        result = session.invoke(Command("Get-Mailbox", {"ResultSize": "Unlimited"}))
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        session.close()
    assert len(result.output) == count
    assert len(result.output[0]["List0"]) == 2
    return {"objects": count, "properties": 200, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000, help="Objects to serve.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    options = parser.parse_args()
    configure_logging(0, "console")
    figures = measure(options.objects)
    if options.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['objects']} objects of {figures['properties']} properties: "
            f"wall {figures['wall_s']} s, CPU {figures['cpu_s']} s (client and server)"
        )


if __name__ == "__main__":
    main()
