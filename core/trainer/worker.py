"""The training process: takes one job at a time from the server, trains a LoRA adapter on the
base model with transformers + PEFT, and reports steps, checkpoints and the end as messages.

It runs in its own process (multiprocessing "spawn"), so whatever training does to memory or to
the interpreter, the server goes on; torch, transformers and peft are imported here only.

Messages to the server are tuples `(kind, job_id, payload)`:
  started {total_steps, device}, step {metrics}, checkpoint {step, metrics},
  succeeded {trained_tokens, result_csv}, cancelled {step}, failed {message}.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from pathlib import Path

KEPT_CHECKPOINTS = 3  # as the service: the adapters of the last three epochs


def main(inbox, outbox, cancel) -> None:
    """Serve jobs until a None arrives. `cancel` (an Event) stops the current job between steps."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch  # noqa: F401  (import once, before the first job, so each job starts at once)
    import peft  # noqa: F401
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    outbox.put(("ready", "", {}))
    while True:
        spec = inbox.get()
        if spec is None:
            return
        try:
            run(spec, lambda kind, payload: outbox.put((kind, spec["job_id"], payload)), cancel)
        except Exception as exc:  # the job fails; the process serves the next one
            outbox.put(("failed", spec["job_id"], {"message": f"{type(exc).__name__}: {exc}"}))


def device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "cpu", torch.float32


def run(spec: dict, send, cancel) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup

    from core.trainer import data as encoding

    faults = spec.get("faults") or {}
    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(spec["seed"])
    device, dtype = device_and_dtype()
    tokenizer = AutoTokenizer.from_pretrained(spec["model_path"])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise encoding.TemplateProblem("the model's tokenizer has neither a pad nor an eos token")
    max_length = spec["max_length"]
    train = [encoding.encode(tokenizer, example, max_length) for example in spec["examples"]]
    valid = [encoding.encode(tokenizer, example, max_length) for example in spec.get("valid_examples") or []]
    if not any(e.trained for e in train):
        raise encoding.TemplateProblem("no example has an assistant turn with weight 1 within the token limit")

    model = AutoModelForCausalLM.from_pretrained(spec["model_path"], dtype=dtype).to(device)
    lora = LoraConfig(r=spec["lora_r"], lora_alpha=spec["lora_alpha"], lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=spec["learning_rate"], weight_decay=0.0)
    batch_size, n_epochs = spec["batch_size"], spec["n_epochs"]
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * n_epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, total)
    out = Path(spec["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    send("started", {"total_steps": total, "device": device, "dtype": str(dtype).removeprefix("torch.")})

    def measure(rows) -> tuple[float, float, int]:
        """Mean loss and token accuracy over the labelled tokens of `rows` (one batch)."""
        tensors = {k: v.to(device) for k, v in encoding.batch(rows, pad_id).items()}
        output = model(**tensors)
        targets = tensors["labels"][:, 1:]
        mask = targets != encoding.IGNORE
        right = ((output.logits[:, :-1].argmax(-1) == targets) & mask).sum().item()
        n = int(mask.sum().item())
        return output.loss, (right / n if n else 0.0), int(tensors["attention_mask"].sum().item())

    @torch.no_grad()
    def evaluate(rows) -> tuple[float, float]:
        model.eval()
        losses, weights, right = 0.0, 0, 0.0
        for start in range(0, len(rows), batch_size):
            part = rows[start : start + batch_size]
            loss, accuracy, _ = measure(part)
            n = sum(e.trained for e in part)
            losses, weights, right = losses + loss.item() * n, weights + n, right + accuracy * n
        model.train()
        return (losses / weights, right / weights) if weights else (0.0, 0.0)

    order = random.Random(spec["seed"])
    rows_csv = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    checkpoints: list[Path] = []
    trained_tokens, step, valid_at = 0, 0, 0
    model.train()
    for epoch in range(1, n_epochs + 1):
        indices = list(range(len(train)))
        order.shuffle(indices)
        for start in range(0, len(indices), batch_size):
            if cancel.is_set():  # checked before every step: a cancel costs at most the step under way
                send("cancelled", {"step": step})
                return
            step += 1
            if faults.get("step_delay"):
                time.sleep(float(faults["step_delay"]))
            if faults.get("crash_at_step") == step:
                raise RuntimeError(f"injected crash at step {step}")
            if faults.get("exit_at_step") == step:
                os._exit(3)  # a hard crash: no message, no clean-up
            loss, accuracy, tokens = measure([train[i] for i in indices[start : start + batch_size]])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            trained_tokens += tokens
            metrics = {"step": step, "total_steps": total, "train_loss": round(loss.item(), 4),
                       "train_mean_token_accuracy": round(accuracy, 4)}
            if valid:
                part = [valid[(valid_at + k) % len(valid)] for k in range(min(batch_size, len(valid)))]
                valid_at += len(part)
                v_loss, v_accuracy = evaluate(part)
                metrics["valid_loss"], metrics["valid_mean_token_accuracy"] = round(v_loss, 4), round(v_accuracy, 4)
            epoch_end = step % steps_per_epoch == 0
            if valid and epoch_end:
                full_loss, full_accuracy = evaluate(valid)
                metrics["full_valid_loss"], metrics["full_valid_mean_token_accuracy"] = round(full_loss, 4), round(full_accuracy, 4)
            metrics["trained_tokens"] = trained_tokens
            send("step", metrics)
            rows_csv.append(f"{step},{metrics['train_loss']},{metrics['train_mean_token_accuracy']},"
                            f"{metrics.get('valid_loss', '')},{metrics.get('valid_mean_token_accuracy', '')}")
            if epoch_end:
                folder = out / "checkpoints" / f"step-{step}"
                model.save_pretrained(folder)
                checkpoints.append(folder)
                while len(checkpoints) > KEPT_CHECKPOINTS:
                    shutil.rmtree(checkpoints.pop(0), ignore_errors=True)
                kept = {k: v for k, v in metrics.items() if k not in ("total_steps", "trained_tokens")}
                send("checkpoint", {"step": step, "metrics": kept, "kept": [int(p.name[5:]) for p in checkpoints]})
    model.save_pretrained(out / "model")
    send("succeeded", {"trained_tokens": trained_tokens, "result_csv": "\n".join(rows_csv) + "\n"})
