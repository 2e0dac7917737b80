"""Drill: the queue server (Redis/Valkey) goes down while findimage runs, then comes back.

What we promise: an upload while it is down answers 503 with a message and keeps
nothing (no row, no file: the client uploads again); readiness says so; the worker
keeps trying, and once the server is back (the clients reconnect by themselves) uploads
are indexed as usual.
"""

from fastapi.testclient import TestClient
from sqlmodel import select

from cli.serving import create_app
from core.models import Image, ImageStatus
from tests.drills.conftest import upload
from tests.factories import LOOPBACK
from tests.polling import wait_for_status


def test_upload_while_the_queue_is_down_is_503_and_keeps_nothing_then_recovers(settings, valkey):
    servers, start = valkey
    settings = settings.model_copy(update={"redis_url": servers[0].connection_url})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        runtime = client.app.state.runtime
        before = upload(client, 1).json()["images"][0]["id"]
        wait_for_status(runtime, [before])

        servers.pop().stop()
        down = upload(client, 2)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "service_unavailable"
        assert "try again" in down.json()["error"]["message"]
        assert client.get("/readyz").status_code == 503
        with runtime.session() as session:
            assert [i.id for i in session.exec(select(Image)).all()] == [before]  # no orphan row
        assert len([p for p in runtime.files.root.rglob("*") if p.is_file()]) == 2  # the first image and its thumbnail

        servers.append(start())  # back on the same port: the client reconnects by itself
        assert client.get("/readyz").status_code == 200
        again = upload(client, 2)
        assert again.status_code == 202 and not again.json()["images"][0]["duplicate"]
        wait_for_status(runtime, [again.json()["images"][0]["id"]])
        with runtime.session() as session:
            assert {i.status for i in session.exec(select(Image)).all()} == {ImageStatus.indexed}
        assert runtime.vectors.count() == 2
