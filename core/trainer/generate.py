"""Answers from a base model plus an adapter (or none), generated on this machine, whole or as
text pieces while the tokens come. torch, transformers and peft are imported on first use."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.trainer import data as encoding
from core.trainer.config import LocalModel

CACHED = 3  # loaded (model, adapter) pairs kept in memory
DEFAULT_MAX_TOKENS = 256


@dataclass
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


class Generator:
    def __init__(self, threads: int | None = None):
        self.threads = threads
        self._lock = threading.Lock()  # one generation at a time: the machine's cores are the limit
        self._cache: OrderedDict[tuple, tuple] = OrderedDict()

    def _load(self, local: LocalModel, adapter: Path | None):
        key = (str(local.path), str(adapter) if adapter else None)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from core.trainer.worker import device_and_dtype

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        device, dtype = device_and_dtype()
        tokenizer = AutoTokenizer.from_pretrained(local.path)
        model = AutoModelForCausalLM.from_pretrained(local.path, dtype=dtype)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter)
        model = model.to(device).eval()
        self._cache[key] = (model, tokenizer, device)
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)
        return self._cache[key]

    def generate(self, local: LocalModel, adapter: Path | None, messages: list[dict], *, tools=None,
                 max_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
                 seed: int | None = None, on_text: Callable[[str], None] | None = None) -> Answer:
        """Greedy unless a positive temperature is given; `on_text` gets each new piece of text."""
        import torch

        with self._lock:
            if self.threads:
                torch.set_num_threads(self.threads)
            model, tokenizer, device = self._load(local, adapter)
            prompt = encoding.prompt_text(tokenizer, messages, tools)
            ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(device)
            limit = max_tokens or DEFAULT_MAX_TOKENS
            options = {"max_new_tokens": limit, "do_sample": False}
            if temperature:
                options.update(do_sample=True, temperature=float(temperature), top_p=float(top_p or 1.0))
                if seed is not None:
                    torch.manual_seed(seed)
            eos = tokenizer.eos_token_id
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
            streamer = _Pieces(tokenizer, ids.shape[1], on_text) if on_text else None
            with torch.no_grad():
                output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), eos_token_id=eos,
                                        pad_token_id=pad, streamer=streamer, **options)
            new = output[0, ids.shape[1]:].tolist()
            ended = bool(new) and new[-1] == eos
            if ended:
                new = new[:-1]
            text = tokenizer.decode(new, skip_special_tokens=True)
            if streamer is not None:
                streamer.flush(text)
            return Answer(text, int(ids.shape[1]), len(new) + int(ended), "stop" if ended or len(new) < limit else "length")


class _Pieces:
    """A transformers streamer that passes on the newly decoded text after each token."""

    def __init__(self, tokenizer, prompt_length: int, on_text: Callable[[str], None]):
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.ids: list[int] = []
        self.sent = ""
        self.first = True

    def put(self, value) -> None:
        if self.first:  # generate() hands the prompt over first
            self.first = False
            return
        values = value.reshape(-1).tolist()
        self.ids.extend(values)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half a character: wait for the rest
            return
        self._send(text)

    def _send(self, text: str) -> None:
        if text.startswith(self.sent) and len(text) > len(self.sent):
            self.on_text(text[len(self.sent):])
            self.sent = text

    def end(self) -> None:
        pass

    def flush(self, text: str) -> None:
        self._send(text)
