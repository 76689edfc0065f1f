"""Pydantic models of the training formats: chat SFT and preference (DPO), one example at a time.

Used where one example is built or edited (the example editor, the emulator, synthetic data) and
as the documentation of the formats in code. The bulk path (a whole file) does not use them:
`rules.py` applies the same checks on plain dicts, several times faster, and
`tests/test_schema_agrees.py` holds the two to the same verdict on every sample and test file.

Strict throughout: no coercion (`"1"` is not a weight), unknown keys rejected where the service
rejects them; content parts, tool calls and tool definitions keep any extra keys they carry.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.dataset.base_models import MAX_IMAGES_PER_EXAMPLE

__all__ = [
    "AssistantMessage",
    "ChatExample",
    "Example",
    "PreferenceExample",
    "ValidationError",
    "parse_example",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class TextPart(_Open):
    type: Literal["text"]
    text: str


class RefusalPart(_Open):
    type: Literal["refusal"]
    refusal: str


class ImageURL(_Open):
    url: str


class ImagePart(_Open):
    type: Literal["image_url"]
    image_url: ImageURL


class FunctionCall(_Open):
    name: str
    arguments: str  # a JSON document, as a string

    @field_validator("arguments")
    @classmethod
    def _is_json(cls, value: str) -> str:
        orjson.loads(value)  # JSONDecodeError is a ValueError: pydantic reports it
        return value


class ToolCall(_Open):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class FunctionDefinition(_Open):
    name: str


class Tool(_Open):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class SystemMessage(_Strict):
    role: Literal["system"]
    content: str | Annotated[list[TextPart], Field(min_length=1)]
    name: Name | None = None


class UserMessage(_Strict):
    role: Literal["user"]
    content: str | Annotated[list[Annotated[Union[TextPart, ImagePart], Field(discriminator="type")]], Field(min_length=1)]
    name: Name | None = None


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: str | list[Annotated[Union[TextPart, RefusalPart], Field(discriminator="type")]] | None = None
    name: Name | None = None
    tool_calls: Annotated[list[ToolCall], Field(min_length=1)] | None = None
    function_call: FunctionCall | None = None
    weight: Annotated[int, Field(ge=0, le=1)] | None = None  # 0: shown to the model but not trained on
    refusal: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> AssistantMessage:
        calls = self.tool_calls is not None or self.function_call is not None
        if not calls and (self.content is None or self.content == []):
            raise ValueError("an assistant message needs content or a tool call")
        return self


class ToolMessage(_Strict):
    role: Literal["tool"]
    content: str | Annotated[list[TextPart], Field(min_length=1)]
    tool_call_id: str


class FunctionMessage(_Strict):
    """Deprecated by the service, still accepted in training files."""

    role: Literal["function"]
    content: str | Annotated[list[TextPart], Field(min_length=1)]
    name: Name | None = None


Message = Annotated[
    Union[SystemMessage, UserMessage, AssistantMessage, ToolMessage, FunctionMessage],
    Field(discriminator="role"),
]


def _check_conversation(messages: list) -> None:
    """Rules across messages: tool answers follow their calls; the image budget."""
    call_ids: set[str] = set()
    images = 0
    for message in messages:
        if isinstance(message, AssistantMessage) and message.tool_calls:
            call_ids.update(call.id for call in message.tool_calls)
        elif isinstance(message, ToolMessage) and message.tool_call_id not in call_ids:
            raise ValueError(f"tool message answers unknown tool call {message.tool_call_id!r}")
        elif isinstance(message, UserMessage) and isinstance(message.content, list):
            images += sum(isinstance(part, ImagePart) for part in message.content)
    if images > MAX_IMAGES_PER_EXAMPLE:
        raise ValueError(f"{images} images; at most {MAX_IMAGES_PER_EXAMPLE} per example")


class ChatExample(_Strict):
    """One line of a supervised (SFT) training file."""

    messages: Annotated[list[Message], Field(min_length=1)]
    tools: list[Tool] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDefinition] | None = None

    @model_validator(mode="after")
    def _trainable(self) -> ChatExample:
        _check_conversation(self.messages)
        if not any(isinstance(m, AssistantMessage) for m in self.messages):
            raise ValueError("no assistant message: there is nothing to learn")
        return self


class PreferenceInput(_Strict):
    messages: Annotated[list[Message], Field(min_length=1)]
    tools: list[Tool] | None = None
    parallel_tool_calls: bool | None = None

    @model_validator(mode="after")
    def _conversation(self) -> PreferenceInput:
        _check_conversation(self.messages)
        return self


class PreferenceOutput(_Strict):
    role: Literal["assistant"]
    content: str | None = None
    name: Name | None = None
    tool_calls: Annotated[list[ToolCall], Field(min_length=1)] | None = None
    function_call: FunctionCall | None = None
    weight: Annotated[int, Field(ge=0, le=1)] | None = None
    refusal: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> PreferenceOutput:
        if self.content is None and self.tool_calls is None and self.function_call is None:
            raise ValueError("the output needs string content or a tool call")
        return self


class PreferenceExample(_Strict):
    """One line of a preference (DPO) training file."""

    input: PreferenceInput
    preferred_output: Annotated[list[PreferenceOutput], Field(min_length=1, max_length=1)]
    non_preferred_output: Annotated[list[PreferenceOutput], Field(min_length=1, max_length=1)]


Example = ChatExample | PreferenceExample


def parse_example(value: dict) -> Example:
    """Validate a parsed line as the format its keys announce; raises `ValidationError`."""
    if isinstance(value, dict) and "messages" not in value and (
        "input" in value or "preferred_output" in value or "non_preferred_output" in value
    ):
        return PreferenceExample.model_validate(value)
    return ChatExample.model_validate(value)


def to_dict(example: Example | dict) -> dict:
    """A plain dict of an example, as it would be written to the file."""
    if isinstance(example, BaseModel):
        return example.model_dump(mode="json", exclude_unset=True)
    return example
