"""Serialize lab objects to CLIXML as Exchange sends it on a plain (non-Full) remote session.

The output is built as text, not through psrpcore's object model, because the lab server and
the in-process session serialize thousands of objects per request. The element names, the
``<TN>``/``<TNRef>`` numbering and the ``_xHHHH_`` string escape match CLIXML captured from
real Exchange servers, which the agent's parser in ``remote.clixml`` reads.
"""

from __future__ import annotations

import base64
import math
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from exchange_agent.lab.contract import LabErrorRecord, LabObject, LabWarning, MultiValued

__all__ = [
    "escape_string",
    "serialize_error_record",
    "serialize_object",
    "serialize_value",
    "serialize_warning",
]

# PowerShell writes control characters (CR and LF included, as captured Exchange output shows),
# surrogates, U+FFFE, U+FFFF and the "_" of a literal "_x" as "_xHHHH_" with the UTF-16 code
# unit in hex.
_NEEDS_ESCAPE = re.compile("[\x00-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x)")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _escape_match(match: re.Match[str]) -> str:
    return f"_x{ord(match.group(0)):04X}_"


def escape_string(value: str) -> str:
    """Escape ``value`` for the text of an ``<S>`` or ``<ToString>`` element."""
    if "_" in value or not value.isprintable():
        value = _NEEDS_ESCAPE.sub(_escape_match, value)
    return value.translate(_XML_ESCAPES)


class _Writer:
    """Collects one message's CLIXML, numbering type-name chains and objects as PowerShell does."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.type_refs: dict[tuple[str, ...], int] = {}
        self.next_ref_id = 0

    def _open_object(self, name: str | None, type_names: tuple[str, ...]) -> None:
        name_attr = self._name_attribute(name)
        self.parts.append(f'<Obj{name_attr} RefId="{self.next_ref_id}">')
        self.next_ref_id += 1
        if not type_names:
            return
        ref = self.type_refs.get(type_names)
        if ref is not None:
            self.parts.append(f'<TNRef RefId="{ref}" />')
            return
        ref = len(self.type_refs)
        self.type_refs[type_names] = ref
        names = "".join(f"<T>{escape_string(t)}</T>" for t in type_names)
        self.parts.append(f'<TN RefId="{ref}">{names}</TN>')

    @staticmethod
    def _name_attribute(name: str | None) -> str:
        if name is None:
            return ""
        escaped = _NEEDS_ESCAPE.sub(_escape_match, name).translate(_ATTRIBUTE_ESCAPES)
        return f' N="{escaped}"'

    def write_object(self, obj: LabObject, name: str | None = None) -> None:
        self._open_object(name, obj.type_names)
        if obj.to_string is not None:
            self.parts.append(f"<ToString>{escape_string(obj.to_string)}</ToString>")
        if obj.properties:
            self.parts.append("<Props>")
            for key, value in obj.properties.items():
                self.write_value(value, key)
            self.parts.append("</Props>")
        else:
            self.parts.append("<Props />")
        self.parts.append("</Obj>")

    def write_multivalued(self, value: MultiValued, name: str | None) -> None:
        self._open_object(name, value.type_names)
        self._write_list(value.items)
        self.parts.append("</Obj>")

    def _write_list(self, items: tuple[Any, ...] | list[Any]) -> None:
        if not items:
            self.parts.append("<LST />")
            return
        self.parts.append("<LST>")
        for item in items:
            self.write_value(item, None)
        self.parts.append("</LST>")

    def write_value(self, value: Any, name: str | None) -> None:
        """Append ``value`` as one CLIXML element, named ``name`` when it is a property."""
        attr = self._name_attribute(name)
        # bool before int: bool is a subclass of int in Python.
        if value is None:
            self.parts.append(f"<Nil{attr} />")
        elif isinstance(value, str):
            self.parts.append(f"<S{attr}>{escape_string(value)}</S>")
        elif isinstance(value, bool):
            self.parts.append(f"<B{attr}>{'true' if value else 'false'}</B>")
        elif isinstance(value, int):
            tag = "I32" if -(2**31) <= value < 2**31 else "I64"
            self.parts.append(f"<{tag}{attr}>{value}</{tag}>")
        elif isinstance(value, float):
            self.parts.append(f"<Db{attr}>{_format_double(value)}</Db>")
        elif isinstance(value, LabObject):
            self.write_object(value, name)
        elif isinstance(value, MultiValued):
            self.write_multivalued(value, name)
        elif isinstance(value, datetime):
            self.parts.append(f"<DT{attr}>{_format_datetime(value)}</DT>")
        elif isinstance(value, UUID):
            self.parts.append(f"<G{attr}>{value}</G>")
        elif isinstance(value, bytes):
            self.parts.append(f"<BA{attr}>{base64.b64encode(value).decode('ascii')}</BA>")
        else:
            raise TypeError(
                f"cannot serialize {type(value).__name__} to CLIXML: expected str, int, float,"
                " bool, bytes, datetime, UUID, MultiValued, LabObject or None"
            )


def _format_double(value: float) -> str:
    # CLIXML writes doubles as XML Schema xs:double, which spells infinities "INF" and "-INF".
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "INF" if value > 0 else "-INF"
    return repr(value)


def _format_datetime(value: datetime) -> str:
    # A naive datetime is treated as UTC so the text always carries an offset.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def serialize_value(value: Any) -> str:
    """Serialize one value of any supported type to a CLIXML element."""
    writer = _Writer()
    writer.write_value(value, None)
    return "".join(writer.parts)


def serialize_object(obj: LabObject) -> str:
    """Serialize ``obj`` to the top-level ``<Obj>`` of one PIPELINE_OUTPUT message."""
    writer = _Writer()
    writer.write_object(obj)
    return "".join(writer.parts)


_ERROR_RECORD_TYPES = (
    "System.Management.Automation.ErrorRecord",
    "System.Object",
)
_WARNING_RECORD_TYPES = (
    "System.Management.Automation.WarningRecord",
    "System.Management.Automation.InformationalRecord",
    "System.Object",
)


def serialize_error_record(record: LabErrorRecord) -> str:
    """Serialize ``record`` to the ErrorRecord shape of an ERROR_RECORD or failed-state message.

    NOTE: this property set, PowerShell's form with ``SerializeExtendedInfo`` false, has not
    been compared with an error record captured from Exchange.
    """
    exception = LabObject(
        type_names=(record.exception_type, "System.Exception", "System.Object"),
        to_string=record.message,
        properties={"Message": record.message},
    )
    category_message = (
        f"{record.category}: ({record.target or ''}:) "
        f"[{record.command or ''}], {record.reason or record.exception_type.rsplit('.', 1)[-1]}"
    )
    properties: dict[str, Any] = {
        "Exception": exception,
        "TargetObject": record.target,
        "FullyQualifiedErrorId": record.fully_qualified_error_id,
        "InvocationInfo": None,
        "ErrorCategory_Category": _CATEGORY_NUMBERS.get(record.category, 0),
        "ErrorCategory_Activity": record.command or "",
        "ErrorCategory_Reason": record.reason or record.exception_type.rsplit(".", 1)[-1],
        "ErrorCategory_TargetName": record.target or "",
        "ErrorCategory_TargetType": "String" if record.target is not None else "",
        "ErrorCategory_Message": category_message,
        "SerializeExtendedInfo": False,
    }
    obj = LabObject(_ERROR_RECORD_TYPES, record.message, properties)
    return serialize_object(obj)


def serialize_warning(warning: LabWarning) -> str:
    """Serialize ``warning`` to the InformationalRecord shape of a WARNING_RECORD message."""
    properties: dict[str, Any] = {
        "InformationalRecord_Message": warning.message,
        "InformationalRecord_SerializeInvocationInfo": False,
    }
    return serialize_object(LabObject(_WARNING_RECORD_TYPES, warning.message, properties))


# System.Management.Automation.ErrorCategory values, from the .NET API reference.
_CATEGORY_NUMBERS = {
    "NotSpecified": 0,
    "OpenError": 1,
    "CloseError": 2,
    "DeviceError": 3,
    "DeadlockDetected": 4,
    "InvalidArgument": 5,
    "InvalidData": 6,
    "InvalidOperation": 7,
    "InvalidResult": 8,
    "InvalidType": 9,
    "MetadataError": 10,
    "NotImplemented": 11,
    "NotInstalled": 12,
    "ObjectNotFound": 13,
    "OperationStopped": 14,
    "OperationTimeout": 15,
    "SyntaxError": 16,
    "ParserError": 17,
    "PermissionDenied": 18,
    "ResourceBusy": 19,
    "ResourceExists": 20,
    "ResourceUnavailable": 21,
    "ReadError": 22,
    "WriteError": 23,
    "FromStdErr": 24,
    "SecurityError": 25,
    "ProtocolError": 26,
    "ConnectionError": 27,
    "AuthenticationError": 28,
    "LimitsExceeded": 29,
    "QuotaExceeded": 30,
    "NotEnabled": 31,
}
