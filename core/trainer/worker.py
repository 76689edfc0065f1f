"""The training process: takes one job at a time from the server, trains a LoRA adapter on the
base model with transformers + PEFT (supervised, or DPO against the base model as reference), and
reports steps, checkpoints and the end as messages.

It runs in its own process (multiprocessing "spawn"), so whatever training does to memory or to
the interpreter, the server goes on; torch, transformers and peft are imported here only.

Between two steps it reads what the server asks (`control`, a shared integer): go on, cancel,
pause, or stop because the server is stopping. Pause and stop save the training state (adapter,
optimizer, scheduler, step, data order and position, RNG states) under `<job>/resume/`, as the end
of every epoch does; a job handed over again with `resume` set continues from that state.

Messages to the server are tuples `(kind, job_id, payload)`:
  started {total_steps, device, dtype, from_step}, step {metrics}, checkpoint {step, metrics, kept},
  succeeded {trained_tokens, result_csv}, cancelled {step}, paused {step}, stopped {step},
  failed {message}.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from pathlib import Path

KEPT_CHECKPOINTS = 3  # as the service: the adapters of the last three epochs
GO, CANCEL, PAUSE, STOP = 0, 1, 2, 3  # what `control` holds
RESUME = "resume"  # the job folder's sub-folder with the last saved training state
POINTER = "latest.json"


def main(inbox, outbox, control) -> None:
    """Serve jobs until a None arrives."""
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
            run(spec, lambda kind, payload: outbox.put((kind, spec["job_id"], payload)), control)
        except Exception as exc:  # the job fails; the process serves the next one
            outbox.put(("failed", spec["job_id"], {"message": f"{type(exc).__name__}: {exc}"}))


def device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "cpu", torch.float32


def saved_state(job_dir: Path) -> tuple[int, Path] | None:
    """(step, file) of the job's last saved training state, or None. Needs no torch."""
    folder = Path(job_dir) / RESUME
    try:
        pointer = json.loads((folder / POINTER).read_text(encoding="utf-8"))
        path = folder / pointer["file"]
        return (int(pointer["step"]), path) if path.is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_state(out: Path, state: dict) -> None:
    """Write the state, then point at it: a stop in the middle leaves the previous state usable."""
    import torch

    folder = out / RESUME
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{state['step']}.pt"
    torch.save(state, folder / f"{name}.tmp")
    os.replace(folder / f"{name}.tmp", folder / name)
    (folder / f"{POINTER}.tmp").write_text(json.dumps({"step": state["step"], "file": name}), encoding="utf-8")
    os.replace(folder / f"{POINTER}.tmp", folder / POINTER)
    for old in folder.glob("step-*.pt*"):
        if old.name != name:
            old.unlink(missing_ok=True)


class _Supervised:
    """Loss on the trained assistant tokens of chat examples (`data.Encoded` rows)."""

    def __init__(self, model, pad_id: int, device: str):
        self.model, self.pad_id, self.device = model, pad_id, device

    def prepare(self, rows: list, batch_size: int) -> list:
        return rows

    def weight(self, row) -> int:
        return row.trained

    def measure(self, rows: list):
        """(mean loss as a tensor, token accuracy, tokens seen) over one batch."""
        from core.trainer import data as encoding

        tensors = {k: v.to(self.device) for k, v in encoding.batch(rows, self.pad_id).items()}
        output = self.model(**tensors)
        targets = tensors["labels"][:, 1:]
        mask = targets != encoding.IGNORE
        right = ((output.logits[:, :-1].argmax(-1) == targets) & mask).sum().item()
        n = int(mask.sum().item())
        return output.loss, (right / n if n else 0.0), int(tensors["attention_mask"].sum().item())


class _Preference:
    """DPO: -log σ(β · ((π − π_ref)(preferred) − (π − π_ref)(non-preferred))), with π the summed
    log-probability of an output under the adapted model and π_ref under the base model (the
    same weights with the adapter switched off, so no second copy of the model is held)."""

    def __init__(self, model, pad_id: int, device: str, beta: float):
        self.model, self.pad_id, self.device, self.beta = model, pad_id, device, beta

    def _log_probs(self, rows: list):
        """Per row: summed log-probability of its labelled tokens, how many of them the greedy choice
        gets right, and how many there are; with the tokens seen."""
        import torch

        from core.trainer import data as encoding

        tensors = {k: v.to(self.device) for k, v in encoding.batch(rows, self.pad_id).items()}
        logits = self.model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]).logits[:, :-1]
        targets = tensors["labels"][:, 1:]
        mask = targets != encoding.IGNORE
        picked = torch.log_softmax(logits.float(), -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        right = ((logits.argmax(-1) == targets) & mask).sum(-1)
        return (picked * mask).sum(-1), right, mask.sum(-1), int(tensors["attention_mask"].sum().item())

    def prepare(self, pairs: list, batch_size: int) -> list:
        """Each pair with the base model's log-probabilities of its two outputs, computed once."""
        import torch

        done = []
        with torch.no_grad(), self.model.disable_adapter():
            for start in range(0, len(pairs), batch_size):
                part = pairs[start : start + batch_size]
                logps, _, _, _ = self._log_probs([p.preferred for p in part] + [p.non_preferred for p in part])
                for k, pair in enumerate(part):
                    done.append((pair, logps[k].item(), logps[len(part) + k].item()))
        return done

    def weight(self, item) -> int:
        return 1

    def measure(self, items: list):
        """(mean DPO loss, token accuracy on the preferred outputs, tokens seen) over one batch."""
        import torch

        n = len(items)
        logps, right, labelled, tokens = self._log_probs([p.preferred for p, _, _ in items] + [p.non_preferred for p, _, _ in items])
        reference = torch.tensor([r for _, r, _ in items] + [r for _, _, r in items], device=logps.device)
        ratio = logps - reference
        loss = -torch.nn.functional.logsigmoid(self.beta * (ratio[:n] - ratio[n:])).mean()
        preferred = int(labelled[:n].sum().item())  # accuracy as supervised reports it, of the preferred outputs
        return loss, (int(right[:n].sum().item()) / preferred if preferred else 0.0), tokens


def run(spec: dict, send, control) -> None:
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
    dpo = spec.get("method") == "dpo"
    encode = encoding.encode_preference if dpo else encoding.encode
    train = [encode(tokenizer, example, max_length) for example in spec["examples"]]
    valid = [encode(tokenizer, example, max_length) for example in spec.get("valid_examples") or []]
    trained = (lambda p: p.preferred.trained and p.non_preferred.trained) if dpo else (lambda e: e.trained)
    if not any(trained(e) for e in train):
        raise encoding.TemplateProblem("no example has an assistant turn with weight 1 within the token limit"
                                       if not dpo else "no example keeps both outputs within the token limit")

    model = AutoModelForCausalLM.from_pretrained(spec["model_path"], dtype=dtype).to(device)
    lora = LoraConfig(r=spec["lora_r"], lora_alpha=spec["lora_alpha"], lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW(trainable.values(), lr=spec["learning_rate"], weight_decay=0.0)
    batch_size, n_epochs = spec["batch_size"], spec["n_epochs"]
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * n_epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, total)
    out = Path(spec["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    method = _Preference(model, pad_id, device, spec["beta"]) if dpo else _Supervised(model, pad_id, device)
    model.eval()  # the reference log-probabilities (DPO) come from the model as it will be evaluated
    train, valid = method.prepare(train, batch_size), method.prepare(valid, batch_size)

    order = random.Random(spec["seed"])
    rows_csv = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    kept: list[int] = []  # steps of the checkpoints on disk, oldest first
    trained_tokens, step, valid_at = 0, 0, 0
    epoch, position, indices = 1, 0, None  # where in the data the next step starts
    if spec.get("resume"):
        state = torch.load(spec["resume"], map_location=device, weights_only=True)
        if state["total_steps"] != total:
            raise RuntimeError(f"the saved state is of a run of {state['total_steps']} steps, not {total}")
        unexpected = model.load_state_dict(state["adapter"], strict=False).unexpected_keys
        if unexpected:
            raise RuntimeError(f"the saved state does not fit the model's adapter ({unexpected[0]}, ...)")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        order.setstate((state["order"][0], tuple(state["order"][1]), state["order"][2]))
        step, epoch, position, indices = state["step"], state["epoch"], state["position"], state["indices"]
        trained_tokens, valid_at, kept, rows_csv = state["trained_tokens"], state["valid_at"], state["kept"], state["rows_csv"]
    send("started", {"total_steps": total, "device": device, "dtype": str(dtype).removeprefix("torch."), "from_step": step})

    def save_state() -> None:
        _save_state(out, {
            "total_steps": total, "step": step, "epoch": epoch, "position": position, "indices": indices,
            "order": order.getstate(), "torch_rng": torch.get_rng_state(),
            "adapter": {name: p.detach().cpu() for name, p in trainable.items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "trained_tokens": trained_tokens, "valid_at": valid_at, "kept": list(kept), "rows_csv": list(rows_csv),
        })  # fmt: skip

    @torch.no_grad()
    def evaluate(items) -> tuple[float, float]:
        model.eval()
        losses, weights, right = 0.0, 0, 0.0
        for start in range(0, len(items), batch_size):
            part = items[start : start + batch_size]
            loss, accuracy, _ = method.measure(part)
            n = sum(method.weight(e) for e in part)
            losses, weights, right = losses + loss.item() * n, weights + n, right + accuracy * n
        model.train()
        return (losses / weights, right / weights) if weights else (0.0, 0.0)

    model.train()
    while epoch <= n_epochs:
        if indices is None:
            indices = list(range(len(train)))
            order.shuffle(indices)
        while position < len(indices):
            asked = control.value  # read before every step: cancel or pause costs at most the step under way
            if asked == CANCEL:
                send("cancelled", {"step": step})
                return
            if asked in (PAUSE, STOP):
                save_state()
                send("paused" if asked == PAUSE else "stopped", {"step": step})
                return
            step += 1
            if faults.get("step_delay"):
                time.sleep(float(faults["step_delay"]))
            if faults.get("crash_at_step") == step:
                raise RuntimeError(f"injected crash at step {step}")
            if faults.get("exit_at_step") == step:
                os._exit(3)  # a hard crash: no message, no clean-up
            loss, accuracy, tokens = method.measure([train[i] for i in indices[position : position + batch_size]])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(trainable.values()), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            position += batch_size
            trained_tokens += tokens
            metrics = {"step": step, "total_steps": total, "train_loss": round(loss.item(), 4),
                       "train_mean_token_accuracy": round(accuracy, 4)}
            if valid:
                part = [valid[(valid_at + k) % len(valid)] for k in range(min(batch_size, len(valid)))]
                valid_at += len(part)
                v_loss, v_accuracy = evaluate(part)
                metrics["valid_loss"], metrics["valid_mean_token_accuracy"] = round(v_loss, 4), round(v_accuracy, 4)
            epoch_end = position >= len(indices)
            if valid and epoch_end:
                full_loss, full_accuracy = evaluate(valid)
                metrics["full_valid_loss"], metrics["full_valid_mean_token_accuracy"] = round(full_loss, 4), round(full_accuracy, 4)
            metrics["trained_tokens"] = trained_tokens
            send("step", metrics)
            rows_csv.append(f"{step},{metrics['train_loss']},{metrics['train_mean_token_accuracy']},"
                            f"{metrics.get('valid_loss', '')},{metrics.get('valid_mean_token_accuracy', '')}")
            if epoch_end:
                model.save_pretrained(out / "checkpoints" / f"step-{step}")
                kept = [s for s in kept if s != step] + [step]
                while len(kept) > KEPT_CHECKPOINTS:
                    shutil.rmtree(out / "checkpoints" / f"step-{kept.pop(0)}", ignore_errors=True)
                done = {k: v for k, v in metrics.items() if k not in ("total_steps", "trained_tokens")}
                send("checkpoint", {"step": step, "metrics": done, "kept": list(kept)})
        epoch, position, indices = epoch + 1, 0, None
        if epoch <= n_epochs:
            save_state()  # what a restart after a crash resumes from
    model.save_pretrained(out / "model")
    shutil.rmtree(out / RESUME, ignore_errors=True)
    send("succeeded", {"trained_tokens": trained_tokens, "result_csv": "\n".join(rows_csv) + "\n"})
