"""Synthetic training data: asking a model for new examples, reading its replies, judging them.

- `brief`   what the user asks for (task, system prompt, topics, style references) and the
            chat request sent for it, with the JSON schema of the answer (pure)
- `parse`   a model's reply read into example values, robustly: fences, prose, JSONL, a reply
            cut short; every part that cannot be read comes with a reason (pure)
- `review`  judging a candidate: the dataset's rules, then exact and near duplicates of the
            file and of the run's other candidates (pure; builds an index over the file)
- `prices`  inference prices per model, dated, for cost estimates (pure)
- `run`     a generation run: bounded concurrency, progress, tokens, cost (loads the SDK)

Nothing is imported here, so that the pure modules can be used without loading the SDK.
"""
