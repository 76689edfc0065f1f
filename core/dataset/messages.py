"""What a chat message says, as plain text: its content whether a string or a list of parts."""

from __future__ import annotations


def content_text(content, sep: str = "") -> str:
    """The text of a message's `content`: the string itself, or its text parts joined by `sep`
    (images and other parts say nothing here). Joined with "" the parts read as the model reads
    them; with " " words of two parts never run together, for comparing texts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
