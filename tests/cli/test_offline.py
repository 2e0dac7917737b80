"""The first run on a machine that cannot download the CLIP weights: a clear message at
once, not minutes of retries."""

import os
import subprocess
import sys
from pathlib import Path

FINDIMAGE = Path(sys.executable).with_name("findimage")


def test_serve_without_the_weights_or_a_way_to_download_them_says_what_to_do(tmp_path):
    env = {
        **os.environ,
        "FINDIMAGE_DATA_DIR": str(tmp_path / "data"),
        "HF_ENDPOINT": "https://127.0.0.1:9",  # the Hub, unreachable (as on this offline machine)
        "HF_HOME": str(tmp_path / "hf"),  # with nothing cached
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    run = subprocess.run([str(FINDIMAGE), "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0
    assert "The weights of CLIP ViT-B-32 (laion2b_s34b_b79k) are not downloaded yet" in said
    for way_out in ("FINDIMAGE_CLIP__PRETRAINED=", "FINDIMAGE_CLIP__MODEL=local-dir:", "FINDIMAGE_CLIP__MODEL=findimage-tiny-test"):
        assert way_out in said
    assert said.count("are not downloaded yet") == 1  # said once, by findimage, not echoed by a child
    assert "Retrying" not in said and "Traceback" not in said
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), run.stderr  # every log line once
