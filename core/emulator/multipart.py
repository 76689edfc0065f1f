"""Reading a multipart/form-data body (file uploads and upload parts) that is already in memory."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from core.emulator.errors import invalid


@dataclass(frozen=True)
class Field:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def parse_form(body: bytes, content_type: str) -> dict[str, Field]:
    """The fields of a multipart body by name; a malformed body is a 400, never a crash.

    The whole body is in memory anyway (its bytes become a file), so parsing it from bytes keeps
    the request readable for recording and slices each part out with a single copy.
    """
    header = Message()
    header["content-type"] = content_type or ""
    if header.get_content_type() != "multipart/form-data":
        raise invalid("Expected a multipart/form-data body.")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise invalid("The multipart body has no boundary.")
    delimiter = b"--" + boundary.encode("latin-1")
    fields: dict[str, Field] = {}
    pos = body.find(delimiter)
    if pos < 0:
        raise invalid("The multipart body is empty or malformed.")
    pos += len(delimiter)
    while not body.startswith(b"--", pos):
        if body.startswith(b"\r\n", pos):
            pos += 2
        end = body.find(b"\r\n" + delimiter, pos)
        if end < 0:
            raise invalid("The multipart body is truncated.")
        head_end = body.find(b"\r\n\r\n", pos, end + 2)
        if head_end < 0:
            raise invalid("A multipart part has no headers.")
        field = _field(body[pos:head_end], body[head_end + 4 : end])
        if field is not None:
            fields.setdefault(field.name, field)
        pos = end + 2 + len(delimiter)
    return fields


def _field(head: bytes, data: bytes) -> Field | None:
    message = Message()
    for line in head.decode("utf-8", errors="replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            message[name.strip()] = value.strip()
    name = message.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        return None
    filename = message.get_param("filename", header="content-disposition")
    return Field(
        name=name,
        data=data,
        filename=filename if isinstance(filename, str) else None,
        content_type=message.get("content-type"),
    )
