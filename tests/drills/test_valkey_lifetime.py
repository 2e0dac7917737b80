"""Drill: the embedded Valkey lives exactly as long as findimage, one per data dir.

Stopped by SIGTERM (systemd, docker) or SIGHUP, ``findimage serve`` stops its Valkey;
killed with SIGKILL, its Valkey goes too within seconds. Either way the queued jobs are
in the append-only file and there after a restart, which runs one Valkey, never two over
the same files."""

import json
import signal
import time
from pathlib import Path

import pytest
import redis
from rq import Queue

from core.valkey import EmbeddedValkey, serves
from tests.drills.conftest import ServeProcess

pytestmark = pytest.mark.slow
PARKED = "drill-parked"
"""A queue no findimage worker takes from: its jobs stay queued."""


def valkeys_serving(data_dir: Path) -> list[int]:
    """Pids of the valkey-server processes whose data dir is ``data_dir``."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and serves(int(p.name), data_dir)]


def wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid) for pid in pids):
        assert time.monotonic() < deadline, f"Valkey {pids} still running {timeout} s after findimage went"
        time.sleep(0.05)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return b"zombie"


def parked_jobs(data_dir: Path) -> list[str]:
    port = json.loads((data_dir / "server.json").read_text())["port"]
    return Queue(PARKED, connection=redis.Redis(port=port)).get_job_ids()


@pytest.fixture
def serve(settings, tmp_path):
    process = ServeProcess(
        {
            "FINDIMAGE_DATA_DIR": str(settings.data_dir),  # no FINDIMAGE_REDIS_URL: the embedded Valkey
            "FINDIMAGE_CLIP__MODEL": settings.clip.model,
            "FINDIMAGE_MODELS_DIR": str(settings.models_dir),
        },
        log=tmp_path / "serve.log",
    )
    yield process
    process.stop()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_the_valkey_goes_with_findimage_and_the_queue_is_kept(serve, settings, stop):
    valkey_dir = settings.valkey_dir
    serve.start()
    first = valkeys_serving(valkey_dir)
    assert len(first) == 1
    port = json.loads((valkey_dir / "server.json").read_text())["port"]
    job = Queue(PARKED, connection=redis.Redis(port=port)).enqueue("os.getcwd").id

    serve.process.send_signal(stop)
    serve.process.wait(30)
    wait_gone(first)
    if stop != signal.SIGKILL:
        assert serve.process.returncode in (0, 128 + stop, -stop), serve.log.read_text()[-2000:]

    serve.start()
    again = valkeys_serving(valkey_dir)
    assert len(again) == 1 and again != first
    assert parked_jobs(valkey_dir) == [job]


def test_a_start_uses_the_valkey_already_serving_its_data_dir(serve, settings):
    with EmbeddedValkey(settings.valkey_dir) as url:  # as if another findimage process held it
        serve.start()
        assert valkeys_serving(settings.valkey_dir) == [json.loads((settings.valkey_dir / "server.json").read_text())["pid"]]
        other = EmbeddedValkey(settings.valkey_dir)
        assert other.start() == url
        other.stop()  # not its own: left running for its owner
        assert redis.Redis.from_url(url).ping()
        serve.stop()
        assert redis.Redis.from_url(url).ping()  # serve did not stop it either
    assert valkeys_serving(settings.valkey_dir) == []
