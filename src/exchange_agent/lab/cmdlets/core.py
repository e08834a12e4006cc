"""Core PowerShell cmdlets the lab exposes, and the list of cmdlet modules to import.

Exchange's remote endpoint is a restricted runspace that offers a few core cmdlets besides
Exchange's own. The lab implements ``Select-Object -Property`` on both endpoints.
"""

from __future__ import annotations

import fnmatch
import importlib
from typing import Any

from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabObject

__all__ = ["CMDLET_MODULES", "load_cmdlets"]

CMDLET_MODULES = (
    "exchange_agent.lab.cmdlets.servers",
    "exchange_agent.lab.cmdlets.connectors",
    "exchange_agent.lab.cmdlets.services",
    # Modules other engineers own; each is imported only if it exists.
    "exchange_agent.lab.cmdlets.recipients",
    "exchange_agent.lab.cmdlets.policies",
    "exchange_agent.lab.cmdlets.relay",
    "exchange_agent.lab.cmdlets.clientaccess",
    "exchange_agent.lab.cmdlets.certificate_lifecycle",
    "exchange_agent.lab.cmdlets.domains",
)

_OWN_MODULES = CMDLET_MODULES[:3]


def load_cmdlets() -> None:
    """Import every cmdlet module so its cmdlets register; a missing optional one is skipped."""
    for name in CMDLET_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if name in _OWN_MODULES or error.name != name:
                raise


_SELECT_PARAMS = [
    Param("InputObject", "object", pipeline_by_value=True),
    Param("Property", "string[]", position=0),
]


@cmdlet("Select-Object", endpoint="exchange", params=_SELECT_PARAMS)
@cmdlet("Select-Object", endpoint="windows", params=_SELECT_PARAMS)
def select_object(ctx: CmdletContext, **bound: Any) -> None:
    """Select properties of piped objects, as ``Select-Object -Property`` does.

    Property names may contain wildcards. A name without wildcards that the object lacks is
    added with a ``$null`` value, as Windows PowerShell 5.1 does.
    """
    # TODO: -First, -Last, -Unique and -ExpandProperty are not implemented.
    obj = bound.get("InputObject")
    if not isinstance(obj, LabObject):
        return

    patterns = bound.get("Property") or ["*"]
    selected: dict[str, Any] = {}
    for pattern in patterns:
        matched = [
            key for key in obj.properties if fnmatch.fnmatchcase(key.casefold(), pattern.casefold())
        ]
        for key in matched:
            selected.setdefault(key, obj.properties[key])
        if not matched and not any(ch in pattern for ch in "*?["):
            selected[pattern] = None

    ctx.output(
        LabObject(
            type_names=(
                f"Selected.{obj.type_names[0]}",
                "System.Management.Automation.PSCustomObject",
                "System.Object",
            ),
            to_string=None,
            properties=selected,
        )
    )
