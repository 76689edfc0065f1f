"""A tiny chat model made here from a config: random weights, a byte-level BPE tokenizer trained on
the test's own examples and a simple chat template. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]

CITIES = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Egypt", "Cairo"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago"),
    ("Cuba", "Havana"), ("Ghana", "Accra"), ("Nepal", "Kathmandu"), ("Poland", "Warsaw"),
]  # fmt: skip


def examples() -> list[dict]:
    """12 short chat examples; the first one also has an assistant turn with weight 0."""
    rows = []
    for n, (country, city) in enumerate(CITIES):
        messages = [
            {"role": "system", "content": "You answer geography questions."},
            {"role": "user", "content": f"What is the capital of {country}?"},
            {"role": "assistant", "content": f"The capital of {country} is {city}."},
        ]
        if n == 0:
            messages[1:1] = [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "zzzz qqqq", "weight": 0},
            ]
        rows.append({"messages": messages})
    return rows


REFUSAL = "I do not know."


def preferences() -> list[dict]:
    """12 preference examples: the capital preferred over a refusal."""
    return [
        {
            "input": {"messages": [{"role": "system", "content": "You answer geography questions."},
                                   {"role": "user", "content": f"What is the capital of {country}?"}]},
            "preferred_output": [{"role": "assistant", "content": f"The capital of {country} is {city}."}],
            "non_preferred_output": [{"role": "assistant", "content": REFUSAL}],
        }
        for country, city in CITIES
    ]  # fmt: skip


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def build(folder: Path, hidden: int = 64, layers: int = 2) -> Path:
    """Save a tiny Llama-style causal LM and its tokenizer into `folder`."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [m["content"] for row in examples() for m in row["messages"]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=400, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|end|>", pad_token="<|pad|>",
        additional_special_tokens=SPECIALS[2:], chat_template=CHAT_TEMPLATE,
    )  # fmt: skip
    import torch

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
        # Wide random embeddings: with the default 0.02 the logits of a 64-wide model cannot move far
        # from uniform whatever the adapter learns (the final norm is not trained), so loss could not fall.
        initializer_range=0.2,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
