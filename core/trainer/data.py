"""Chat and preference examples to token ids and labels: the base model's chat template formats
them, and only trained assistant turns carry loss (a turn with `weight: 0` and every other role
are masked). A preference example becomes two rows, its input followed by the preferred output
and by the non-preferred one, where only the output is labelled.

Neither transformers nor TRL masks by a per-message weight, so the masking is done here: each
trained assistant turn is found as a span of characters in the rendered conversation (what
`messages[:i+1]` renders to, less what `messages[:i]` plus the generation prompt renders to),
and a token is labelled when its characters lie inside such a span. That needs a fast tokenizer
(offsets) and a template that renders a conversation's beginning as a prefix of the whole, which
ordinary chat templates do; one that does not is refused with a message naming the model.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100  # the label transformers' loss skips


class TemplateProblem(ValueError):
    """The base model's tokenizer or chat template cannot mark the assistant turns."""


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE where no loss is taken

    @property
    def trained(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def _text(content) -> str:
    if isinstance(content, list):  # content parts: the text ones (images are not trained here)
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def clean_messages(messages: list[dict]) -> list[dict]:
    """What the chat template sees: the API's fields less `weight`, content as plain text."""
    cleaned = []
    for message in messages:
        item = {k: v for k, v in message.items() if k != "weight"}
        item["content"] = _text(message.get("content"))
        cleaned.append(item)
    return cleaned


def _render(tokenizer, messages: list[dict], tools, generation_prompt: bool) -> str:
    kwargs = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt, **kwargs)


def prompt_text(tokenizer, messages: list[dict], tools=None) -> str:
    """The conversation so far plus the generation prompt: what the model continues in chat."""
    return _render(tokenizer, clean_messages(messages), tools, True)


def encode(tokenizer, example: dict, max_length: int) -> Encoded:
    """One chat example as ids and labels, cut to `max_length` tokens."""
    raw = example["messages"]
    messages = clean_messages(raw)
    tools = example.get("tools")
    full = _render(tokenizer, messages, tools, False)
    spans = []
    for i, message in enumerate(raw):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        before = _render(tokenizer, messages[:i], tools, True) if i else ""
        through = _render(tokenizer, messages[: i + 1], tools, False)
        if not through.startswith(before) or not full.startswith(through):
            raise TemplateProblem(
                "the model's chat template does not render a conversation's beginning as a prefix of the whole, "
                "so its assistant turns cannot be found for assistant-only loss"
            )
        spans.append((len(before), len(through)))
    if not getattr(tokenizer, "is_fast", False):
        raise TemplateProblem("the model has no fast tokenizer (tokenizer.json), which assistant-only loss needs")
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    labels = []
    for token, (start, end) in zip(ids, encoded["offset_mapping"]):
        inside = end > start and any(low <= start and end <= high for low, high in spans)
        labels.append(token if inside else IGNORE)
    return Encoded(ids[:max_length], labels[:max_length])


@dataclass(frozen=True)
class Pair:
    """A preference example: the same input with the preferred and the non-preferred output."""

    preferred: Encoded
    non_preferred: Encoded


def encode_preference(tokenizer, example: dict, max_length: int) -> Pair:
    """`{"input": {"messages", "tools"?}, "preferred_output": [...], "non_preferred_output": [...]}`
    as two rows labelled on the output only (the input's own assistant turns are context)."""
    given = example["input"]
    context = [{**m, "weight": 0} if m.get("role") == "assistant" else m for m in given["messages"]]
    rows = []
    for key in ("preferred_output", "non_preferred_output"):
        output = [{k: v for k, v in m.items() if k != "weight"} for m in example[key]]
        rows.append(encode(tokenizer, {"messages": context + output, "tools": given.get("tools")}, max_length))
    return Pair(*rows)


def batch(encoded: list[Encoded], pad_id: int):
    """Right-padded tensors: input_ids, attention_mask, labels."""
    import torch

    width = max(len(e.input_ids) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    labels = torch.full((len(encoded), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(encoded):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
