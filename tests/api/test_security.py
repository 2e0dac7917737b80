"""Who gets in, and what every answer tells the browser."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from cli.main import app as cli
from cli.serving import create_app
from core import ratelimit
from core.models import Image
from tests.factories import LOOPBACK, bearer, distinct_jpeg
from tests.polling import wait_for_status

OPEN = {"/healthz", "/readyz", "/api/logout", "/api/images/{image_id}/thumbnail"}
"""Routes that answer without a user: health checks, logging out (it only drops the
cookie), and thumbnails (which take a signed link instead, and otherwise a user: tested
below). Opening a login link is not in the schema."""


@pytest.fixture
def locked(settings):
    with TestClient(create_app(settings.model_copy(update={"login_required": True})), client=LOOPBACK) as client:
        yield client


def test_every_api_route_needs_a_user(locked):
    paths = {path: methods for path, methods in locked.app.openapi()["paths"].items() if path not in OPEN}
    assert len(paths) >= 10
    for route, methods in paths.items():
        for method in methods:
            path = route.replace("{image_id}", "1")
            answer = locked.request(method, path)
            assert answer.status_code == 401, f"{method} {path}: {answer.status_code}"
            assert answer.json()["error"]["code"] == "unauthorized"
    assert locked.get("/api/images/1/thumbnail").status_code == 401
    assert locked.get("/healthz").status_code == 200
    assert locked.get("/").status_code == 200  # the page itself, which then asks to log in


def test_without_login_only_this_machine_is_let_in(settings):
    app = create_app(settings)
    with TestClient(app, client=LOOPBACK) as here:  # runs the app's lifespan; the other client shares it
        there = TestClient(app, client=("192.0.2.7", 50000))
        assert here.get("/api/me").json()["name"] == "local"
        refused = there.get("/api/me")
        assert refused.status_code == 401 and "only on the machine it runs on" in refused.json()["error"]["message"]
    opened = settings.model_copy(update={"allow_remote_without_login": True})
    with TestClient(create_app(opened), client=("192.0.2.7", 50000)) as there:
        assert there.get("/api/me").json()["name"] == "local"


def test_serve_refuses_a_public_address_without_login(cli_env):
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "Refusing to serve 0.0.0.0 without login" in result.output


def test_only_the_uploader_or_an_admin_may_delete(locked):
    runtime = locked.app.state.runtime
    ana, bob = bearer(runtime, "ana"), bearer(runtime, "bob")
    uploaded = locked.post("/api/images", files={"files": ("a.jpg", distinct_jpeg(5), "image/jpeg")}, headers=ana)
    image_id = uploaded.json()["images"][0]["id"]
    wait_for_status(runtime, [image_id])
    refused = locked.delete(f"/api/images/{image_id}", headers=bob)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert locked.get(f"/api/images/{image_id}", headers=bob).status_code == 200  # still there
    assert locked.delete(f"/api/images/{image_id}", headers=ana).status_code == 204
    assert locked.get(f"/api/images/{image_id}", headers=bob).status_code == 404


def test_an_admin_may_delete_anyones_image(client, app_runtime):
    uploaded = client.post("/api/images", files={"files": ("a.jpg", distinct_jpeg(6), "image/jpeg")},
                           headers=bearer(app_runtime, "ana"))
    image_id = uploaded.json()["images"][0]["id"]
    assert client.delete(f"/api/images/{image_id}").status_code == 204  # the local user is the admin


def test_security_headers_and_no_cors_by_default(client):
    for path in ("/", "/js/main.js", "/api/me", "/api/images/404"):
        headers = client.get(path, headers={"Origin": "https://evil.example"}).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert "access-control-allow-origin" not in headers
    preflight = client.options("/api/me", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_configured_origins_only(settings):
    configured = settings.model_copy(update={"cors_origins": ["https://intranet.example"]})
    with TestClient(create_app(configured), client=LOOPBACK) as client:
        allowed = client.get("/api/me", headers={"Origin": "https://intranet.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example"
        other = client.get("/api/me", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_uploads_are_rate_limited_per_user(settings, monkeypatch):
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_800_000_030.0)  # one window for the whole test
    limited = settings.model_copy(update={"limits": settings.limits.model_copy(update={"uploads_per_minute": 3})})
    with TestClient(create_app(limited), client=LOOPBACK) as client:
        runtime = client.app.state.runtime
        ana, bob = bearer(runtime, "ana"), bearer(runtime, "bob")

        def send(headers, *seeds):
            files = [("files", (f"{s}.jpg", distinct_jpeg(s), "image/jpeg")) for s in seeds]
            return client.post("/api/images", files=files, headers=headers)

        assert send(ana, 1, 2).status_code == 202
        refused = send(ana, 3, 4)  # 4 > 3: the whole request is refused, and not counted
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert send(ana, 3).status_code == 202
        assert send(bob, 5, 6, 7).status_code == 202  # bob has a limit of his own
        with runtime.session() as session:
            assert len(session.exec(select(Image)).all()) == 6  # nothing of the refused upload was kept


# What Chromium sends with a page's fetch or form post to another site.
CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors",
              "Sec-Fetch-Dest": "empty"}


def test_a_request_for_another_host_is_refused(settings):
    served = settings.model_copy(update={"public_base_url": "https://findimage.example.com"})
    with TestClient(create_app(served), client=LOOPBACK) as client:
        rebound = client.get("/api/me/history", headers={"Host": "evil.example:8000"})
        assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "invalid_host"
        assert "content-security-policy" in rebound.headers
        assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
        for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "findimage.example.com", "LOCALHOST"):
            assert client.get("/api/me/history", headers={"Host": host}).status_code == 200, host
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and scrapers name the machine as they like
            assert client.get(path, headers={"Host": "10.0.0.7:8000"}).status_code == 200, path
    with TestClient(create_app(served.model_copy(update={"allowed_hosts": ["*"]})), client=LOOPBACK) as client:
        assert client.get("/api/me", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize("login", [False, True], ids=["login-free", "login"])
def test_another_site_cannot_change_anything(settings, login):
    with TestClient(create_app(settings.model_copy(update={"login_required": login})), client=LOOPBACK) as client:
        runtime = client.app.state.runtime
        as_ana = bearer(runtime, "ana") if login else {}
        files = {"files": ("p.jpg", distinct_jpeg(1), "image/jpeg")}
        for fetch_site in ("cross-site", "same-site"):  # same-site: another port or subdomain
            refused = client.post("/api/images", files=files, headers={**CROSS_SITE, "Sec-Fetch-Site": fetch_site, **as_ana})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site_request"
        # An older browser sends only Origin.
        assert client.post("/api/images", files=files, headers={"Origin": "http://127.0.0.1:9999", **as_ana}).status_code == 403
        with runtime.session() as session:
            assert session.exec(select(Image)).all() == []  # nothing was kept
        own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", **as_ana}
        uploaded = client.post("/api/images", files=files, headers=own)
        assert uploaded.status_code == 202
        image_id = uploaded.json()["images"][0]["id"]
        wait_for_status(runtime, [image_id])
        for method in ("PUT", "DELETE"):
            answer = client.request(method, f"/api/images/{image_id}/like", headers={**CROSS_SITE, **as_ana})
            assert answer.status_code == 403, method
        assert client.delete(f"/api/images/{image_id}", headers={**CROSS_SITE, **as_ana}).status_code == 403
        assert client.get(f"/api/images/{image_id}", headers={**CROSS_SITE, **as_ana}).status_code == 200  # reads: CORS decides
        assert client.put(f"/api/images/{image_id}/like", headers=as_ana).json()["liked"]  # curl, the CLI: no such headers
        assert client.put(f"/api/images/{image_id}/like", headers={"Sec-Fetch-Site": "none", **as_ana}).status_code == 200


def test_a_configured_origin_may_post(settings):
    configured = settings.model_copy(update={"cors_origins": ["https://intranet.example"]})
    with TestClient(create_app(configured), client=LOOPBACK) as client:
        files = {"files": ("p.jpg", distinct_jpeg(2), "image/jpeg")}
        allowed = client.post("/api/images", files=files, headers={**CROSS_SITE, "Origin": "https://intranet.example"})
        assert allowed.status_code == 202
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example"
        assert client.post("/api/images", files=files, headers=CROSS_SITE).status_code == 403
