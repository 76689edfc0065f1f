"""The training process: takes one job at a time from the server, trains a LoRA adapter on the
base model with transformers' `Trainer` + PEFT (supervised, or DPO against the base model as
reference), and reports steps, checkpoints and the end as messages.

It runs in its own process (multiprocessing "spawn"), so whatever training does to memory or to
the interpreter, the server goes on; torch, transformers and peft are imported here only.

The step loop, AdamW, the linear schedule, gradient clipping, data order and the resumable
training state are `transformers.Trainer`'s. Ours are the collator and the loss (assistant-only
masking and `weight: 0` in `data.py`; the DPO loss below) and one `TrainerCallback`, `_Events`,
which after every step sends the service's metric event, validates, writes the epoch's adapter
checkpoint, and reads what the server asks (`control`, a shared integer): go on, cancel, pause,
or stop because the server is stopping. Pause, stop and the end of every epoch save Trainer's
checkpoint (adapter, optimizer, scheduler, RNG states, step) plus our own few fields under
`<job>/resume/`; a job handed over again with `resume` set continues from it with
`Trainer.train(resume_from_checkpoint=...)`, which skips the batches already trained.

Messages to the server are tuples `(kind, job_id, payload)`:
  started {total_steps, device, dtype, from_step}, step {metrics}, checkpoint {step, metrics, kept},
  succeeded {trained_tokens, result_csv}, cancelled {step}, paused {step}, stopped {step},
  failed {message}.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

KEPT_CHECKPOINTS = 3  # as the service: the adapters of the last three epochs
GO, CANCEL, PAUSE, STOP = 0, 1, 2, 3  # what `control` holds
RESUME = "resume"  # the job folder's sub-folder with the last saved training state
POINTER = "latest.json"
OURS = "tunedeck.json"  # our fields in a Trainer checkpoint: the CSV so far, kept checkpoints, tokens


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
    """(step, Trainer checkpoint folder) of the job's last saved training state, or None. Needs no torch."""
    folder = Path(job_dir) / RESUME
    try:
        pointer = json.loads((folder / POINTER).read_text(encoding="utf-8"))
        path = folder / pointer["file"]
        return (int(pointer["step"]), path) if path.exists() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _Supervised:
    """Loss on the trained assistant tokens of chat examples (`data.Encoded` rows)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def prepare(self, model, rows: list, batch_size: int, device: str) -> list:
        return rows

    def weight(self, row) -> int:
        return row.trained

    def collate(self, rows: list) -> dict:
        from core.trainer import data as encoding

        return encoding.batch(rows, self.pad_id)

    def measure(self, model, inputs: dict):
        """(mean loss as a tensor, token accuracy, tokens seen) over one collated batch."""
        from core.trainer import data as encoding

        output = model(**inputs)
        targets = inputs["labels"][:, 1:]
        mask = targets != encoding.IGNORE
        right = ((output.logits[:, :-1].argmax(-1) == targets) & mask).sum().item()
        n = int(mask.sum().item())
        return output.loss, (right / n if n else 0.0), int(inputs["attention_mask"].sum().item())


class _Preference:
    """DPO: -log σ(β · ((π − π_ref)(preferred) − (π − π_ref)(non-preferred))), with π the summed
    log-probability of an output under the adapted model and π_ref under the base model (the
    same weights with the adapter switched off, so no second copy of the model is held)."""

    def __init__(self, pad_id: int, beta: float):
        self.pad_id, self.beta = pad_id, beta

    def _log_probs(self, model, inputs: dict):
        """Per row: summed log-probability of its labelled tokens, how many of them the greedy choice
        gets right, and how many there are."""
        import torch

        from core.trainer import data as encoding

        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[:, :-1]
        targets = inputs["labels"][:, 1:]
        mask = targets != encoding.IGNORE
        picked = torch.log_softmax(logits.float(), -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        right = ((logits.argmax(-1) == targets) & mask).sum(-1)
        return (picked * mask).sum(-1), right, mask.sum(-1)

    def _rows(self, pairs: list) -> dict:
        from core.trainer import data as encoding

        return encoding.batch([p.preferred for p in pairs] + [p.non_preferred for p in pairs], self.pad_id)

    def prepare(self, model, pairs: list, batch_size: int, device: str) -> list:
        """Each pair with the base model's log-probabilities of its two outputs, computed once."""
        import torch

        done = []
        with torch.no_grad(), model.disable_adapter():
            for start in range(0, len(pairs), batch_size):
                part = pairs[start : start + batch_size]
                logps = self._log_probs(model, {k: v.to(device) for k, v in self._rows(part).items()})[0]
                done += [(pair, logps[k].item(), logps[len(part) + k].item()) for k, pair in enumerate(part)]
        return done

    def weight(self, item) -> int:
        return 1

    def collate(self, items: list) -> dict:
        import torch

        reference = [r for _, r, _ in items] + [r for _, _, r in items]
        return {**self._rows([p for p, _, _ in items]), "reference": torch.tensor(reference)}

    def measure(self, model, inputs: dict):
        """(mean DPO loss, token accuracy on the preferred outputs, tokens seen) over one collated batch."""
        import torch

        logps, right, labelled = self._log_probs(model, inputs)
        n = len(logps) // 2
        ratio = logps - inputs["reference"].to(logps.dtype)
        loss = -torch.nn.functional.logsigmoid(self.beta * (ratio[:n] - ratio[n:])).mean()
        preferred = int(labelled[:n].sum().item())  # accuracy as supervised reports it, of the preferred outputs
        return loss, (int(right[:n].sum().item()) / preferred if preferred else 0.0), int(inputs["attention_mask"].sum().item())


def run(spec: dict, send, control) -> None:
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.trainer import data as encoding

    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    transformers.set_seed(spec["seed"])
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
    batch_size, n_epochs = spec["batch_size"], spec["n_epochs"]
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * n_epochs
    out = Path(spec["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    method = _Preference(pad_id, spec["beta"]) if dpo else _Supervised(pad_id)
    model.eval()  # the reference log-probabilities (DPO) come from the model as it will be evaluated
    train, valid = method.prepare(model, train, batch_size, device), method.prepare(model, valid, batch_size, device)

    args = transformers.TrainingArguments(
        output_dir=str(out / RESUME), per_device_train_batch_size=batch_size, num_train_epochs=n_epochs,
        learning_rate=spec["learning_rate"], weight_decay=0.0, lr_scheduler_type="linear", warmup_steps=0,
        max_grad_norm=1.0, seed=spec["seed"], save_strategy="no", logging_strategy="no", eval_strategy="no",
        report_to="none", disable_tqdm=True, remove_unused_columns=False, dataloader_num_workers=0,
        use_cpu=device == "cpu",
    )  # fmt: skip
    events = type("Events", (_Events, transformers.TrainerCallback), {})(
        spec, method, valid, total, steps_per_epoch, send, control, out)
    trainer = type("MethodTrainer", (_Loss, transformers.Trainer), {"method": method, "events": events})(
        model=model, args=args, train_dataset=train, data_collator=method.collate, callbacks=[events])
    trainer.remove_callback(transformers.PrinterCallback)  # its one line (the run's summary) is not an event
    resume = spec.get("resume")
    if resume:
        events.load(Path(resume))
    send("started", {"total_steps": total, "device": device, "dtype": str(dtype).removeprefix("torch."), "from_step": events.step})
    trainer.train(resume_from_checkpoint=resume or None)
    if events.ended:
        send(events.ended, {"step": events.step})
        return
    model.save_pretrained(out / "model")
    shutil.rmtree(out / RESUME, ignore_errors=True)
    send("succeeded", {"trained_tokens": events.trained_tokens, "result_csv": "\n".join(events.rows_csv) + "\n"})


class _Loss:
    """Mixed into transformers' `Trainer` (in `run`): the loss is the method's (supervised or DPO) on
    our collated batches, and each step's accuracy and tokens are noted for the event."""

    method: _Supervised | _Preference
    events: _Events

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, accuracy, tokens = self.method.measure(model, inputs)
        self.events.batch = (loss.item(), accuracy, tokens)
        return loss


class _Events:
    """Mixed into a `TrainerCallback` (in `run`, as transformers is imported only in the training
    process): turns Trainer's steps into the service's events, see the module docstring."""

    def __init__(self, spec, method, valid, total, steps_per_epoch, send, asked, out: Path):
        self.method, self.valid, self.total, self.per_epoch = method, valid, total, steps_per_epoch
        self.send, self.asked, self.out = send, asked, out  # asked: the server's shared GO/CANCEL/PAUSE/STOP
        self.faults = spec.get("faults") or {}
        self.rows_csv = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        self.kept: list[int] = []  # steps of the checkpoints on disk, oldest first
        self.trained_tokens = self.valid_at = self.step = 0
        self.batch = (0.0, 0.0, 0)  # loss, accuracy, tokens of the step just trained (set by compute_loss)
        self.ended = ""  # "cancelled", "paused" or "stopped" when training left early

    # -- our fields of the saved state ---------------------------------------------------------

    FIELDS = ("total", "step", "trained_tokens", "valid_at", "kept", "rows_csv")

    def load(self, checkpoint: Path) -> None:
        if not (checkpoint / OURS).is_file():
            raise RuntimeError("the saved state is not a checkpoint of this trainer (an older version wrote it); "
                               "start the job again")
        saved = json.loads((checkpoint / OURS).read_text(encoding="utf-8"))
        if saved["total"] != self.total:
            raise RuntimeError(f"the saved state is of a run of {saved['total']} steps, not {self.total}")
        for name in self.FIELDS[1:]:
            setattr(self, name, saved[name])

    def on_save(self, args, state, control, **kwargs):
        """Trainer has written its checkpoint: add ours, point at it, drop the older ones (a stop in
        the middle leaves the previous state usable)."""
        folder = Path(args.output_dir)
        name = f"checkpoint-{state.global_step}"
        (folder / name / OURS).write_text(json.dumps({k: getattr(self, k) for k in self.FIELDS}), encoding="utf-8")
        (folder / f"{POINTER}.tmp").write_text(json.dumps({"step": state.global_step, "file": name}), encoding="utf-8")
        os.replace(folder / f"{POINTER}.tmp", folder / POINTER)
        for old in folder.glob("checkpoint-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    # -- every step ----------------------------------------------------------------------------

    def on_step_begin(self, args, state, control, **kwargs):
        step = state.global_step + 1
        if self.faults.get("step_delay"):
            time.sleep(float(self.faults["step_delay"]))
        if self.faults.get("crash_at_step") == step:
            raise RuntimeError(f"injected crash at step {step}")
        if self.faults.get("exit_at_step") == step:
            os._exit(3)  # a hard crash: no message, no clean-up

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.step = step = state.global_step
        loss, accuracy, tokens = self.batch
        self.trained_tokens += tokens
        metrics = {"step": step, "total_steps": self.total, "train_loss": round(loss, 4),
                   "train_mean_token_accuracy": round(accuracy, 4)}
        valid = self.valid
        if valid:
            part = [valid[(self.valid_at + k) % len(valid)] for k in range(min(args.per_device_train_batch_size, len(valid)))]
            self.valid_at += len(part)
            v_loss, v_accuracy = self.evaluate(model, part, args)
            metrics["valid_loss"], metrics["valid_mean_token_accuracy"] = round(v_loss, 4), round(v_accuracy, 4)
        epoch_end = step % self.per_epoch == 0
        if valid and epoch_end:
            full_loss, full_accuracy = self.evaluate(model, valid, args)
            metrics["full_valid_loss"], metrics["full_valid_mean_token_accuracy"] = round(full_loss, 4), round(full_accuracy, 4)
        metrics["trained_tokens"] = self.trained_tokens
        self.send("step", metrics)
        self.rows_csv.append(f"{step},{metrics['train_loss']},{metrics['train_mean_token_accuracy']},"
                             f"{metrics.get('valid_loss', '')},{metrics.get('valid_mean_token_accuracy', '')}")
        if epoch_end:
            model.save_pretrained(self.out / "checkpoints" / f"step-{step}")
            self.kept = [s for s in self.kept if s != step] + [step]
            while len(self.kept) > KEPT_CHECKPOINTS:
                shutil.rmtree(self.out / "checkpoints" / f"step-{self.kept.pop(0)}", ignore_errors=True)
            done = {k: v for k, v in metrics.items() if k not in ("total_steps", "trained_tokens")}
            self.send("checkpoint", {"step": step, "metrics": done, "kept": list(self.kept)})
        if step >= self.total:
            return
        # What the server asks, read after every step: a cancel or a pause costs at most the step under way.
        self.ended = {CANCEL: "cancelled", PAUSE: "paused", STOP: "stopped"}.get(self.asked.value, "")
        control.should_training_stop = bool(self.ended)
        # Trainer's checkpoint: what a resume continues from, and at epoch ends what a restart after a crash does.
        control.should_save = self.ended in ("paused", "stopped") or (epoch_end and not self.ended)

    def evaluate(self, model, items: list, args) -> tuple[float, float]:
        import torch

        model.eval()
        losses, weights, right = 0.0, 0, 0.0
        size = args.per_device_train_batch_size
        with torch.no_grad():
            for start in range(0, len(items), size):
                part = items[start : start + size]
                inputs = {k: v.to(args.device) for k, v in self.method.collate(part).items()}
                loss, accuracy, _ = self.method.measure(model, inputs)
                n = sum(self.method.weight(e) for e in part)
                losses, weights, right = losses + loss.item() * n, weights + n, right + accuracy * n
        model.train()
        return (losses / weights, right / weights) if weights else (0.0, 0.0)
