"""Evaluation: replaying dataset examples against models and scoring the answers against the gold ones.

- `cases`   what is asked and what the answer should be (read from a JSONL file)
- `scores`  how close one answer is to the gold one (pure)
- `results` an answer, and the results file it is kept in (JSONL: a header, then one answer a line)
- `run`     a batch run: bounded concurrency, progress, resumable (loads the openai SDK)
- `report`  totals per model and the examples where models disagree most (pure)

Nothing is imported here, so that `core.evaluate.cases` can be used without loading the SDK.
"""

MAX_MODELS = 3  # side by side on one screen; and each one more multiplies the requests
