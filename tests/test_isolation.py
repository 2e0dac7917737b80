"""The suite's results do not depend on the developer's machine."""

import os
import subprocess
import sys
from pathlib import Path

from core.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_a_test_sees_only_the_defaults():
    settings = Settings()
    assert settings.database_url is None and settings.redis_url is None and settings.qdrant_url is None
    assert settings.slack.bot_token is None and settings.clip.model == "ViT-B-32"


def test_exported_settings_and_a_dotenv_file_do_not_reach_the_tests(tmp_path):
    """The test above, run as a developer would: with settings exported and a ``.env`` in
    the working directory."""
    (tmp_path / ".env").write_text("FINDIMAGE_SLACK__BOT_TOKEN=xoxb-developer\nFINDIMAGE_CLIP__MODEL=ViT-L-14\n")
    env = {**os.environ, "FINDIMAGE_DATABASE_URL": "postgresql://developer@192.0.2.1/db", "FINDIMAGE_REDIS_URL": "redis://x"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         f"{__file__}::test_a_test_sees_only_the_defaults"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
