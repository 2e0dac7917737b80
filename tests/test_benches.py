"""Every benchmark keeps running: each at its ``--smoke`` size (the tiny model, tiny
sizes), so a change that breaks one fails here. Their figures are not checked: speed is
measured by running them at full size, never by a timed assertion."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
BENCHES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "shared")
TAKES_A_WORK_DIR = {"inference", "ingest", "load", "query", "slack_ack", "slack_backfill", "text_search"}
LAST_WORDS = {
    "inference": "Pillow against libvips",
    "ingest": "ratio end-to-end / fastest bare model",
    "load": "OK: every accepted image indexed exactly once",
    "query": "text search p50 / (encode + one search per channel)",
    "recommend": "p50",
    "sizing": "int8 quantized vectors",
    "slack_ack": "answers posted to their response URLs",
    "slack_backfill": "(any other app)",
    "text_search": "one words search",
}
"""What the end of each bench's output says once it has measured everything."""

pytestmark = pytest.mark.slow


def test_every_bench_is_listed():
    assert set(BENCHES) == set(LAST_WORDS)


@pytest.mark.parametrize("name", BENCHES)
def test_the_bench_runs_at_smoke_size(name, tiny_model, models_dir, tmp_path_factory):
    command = [sys.executable, str(BENCH / f"{name}.py"), "--smoke"]
    if name in TAKES_A_WORK_DIR:  # the session's tiny model and its export: one export a test process
        command += ["--work-dir", str(models_dir.parent), "--model", tiny_model]
    run = subprocess.run(command, cwd=tmp_path_factory.mktemp(name), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert LAST_WORDS[name] in run.stdout[-600:], run.stdout[-2000:]
