"""The service's words and numbers that commands need before the SDK is loaded.

Importing `openai` takes over a second; `tunedeck validate` or `--help` must not wait for it, so
what argparse needs (job states, the suffix limit, the polling pace) lives here, import-free.
"""

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE = frozenset({"validating_files", "queued", "running", "pausing", "paused"})
SUFFIX_LIMIT = 64  # characters of the tuned model's name the user may choose

POLL_INTERVAL = 2.0  # seconds between two polls of one watched job
POLL_RATE = 4.0  # requests per second, all watched jobs together
