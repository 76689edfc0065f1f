"""The log file lives in the state dir and never holds a secret."""

import logging

from core import logs


def test_log_file_in_state_dir_and_secrets_scrubbed(isolated_dirs):
    path = logs.setup(debug=True)
    assert path.parent == isolated_dirs / "tunedeck-state"
    logger = logging.getLogger("core.test")
    logger.info("connecting with key %s", "sk-proj-abcdefghijklmnop1234")
    logger.info("headers: Authorization: Bearer abcdef123456789")
    for handler in logging.getLogger("core").handlers:
        handler.flush()
    text = path.read_text()
    assert "connecting with key [secret removed]" in text
    assert "abcdefghijklmnop" not in text and "abcdef123456789" not in text
