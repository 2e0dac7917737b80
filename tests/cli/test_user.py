"""``findimage user``: people get login links and API tokens; with login required, nobody
gets in without one."""

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from cli.serving import create_app
from tests.factories import LOOPBACK


def run(*args):
    return CliRunner().invoke(app, ["user", *args])


def test_a_created_user_logs_in_once_with_the_printed_link(cli_env, settings):
    created = run("create", "ana")
    assert created.exit_code == 0, created.output
    link = created.stdout.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8000/login/")
    path = link.removeprefix("http://127.0.0.1:8000")
    with TestClient(create_app(settings.model_copy(update={"login_required": True})), client=LOOPBACK) as client:
        refused = client.get("/api/me")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        opened = client.get(path, follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/#/feed"
        assert client.get("/api/me").json()["name"] == "ana"  # the session cookie
        client.cookies.clear()
        assert client.get(path).status_code == 401  # used up
        client.cookies.set("findimage_session", "forged.value.sig")
        assert client.get("/api/me").status_code == 401


def test_an_api_token_acts_as_its_user(cli_env, settings):
    run("create", "bob")
    issued = run("token", "bob")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    with TestClient(create_app(settings.model_copy(update={"login_required": True})), client=LOOPBACK) as client:
        assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "bob"
        wrong = client.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401 and "token" in wrong.json()["error"]["message"]


def test_without_login_required_a_bare_request_is_the_local_user(settings):
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        assert client.get("/api/me").json()["name"] == "local"


def test_clear_errors_for_a_taken_name_and_an_unknown_user(cli_env):
    assert run("create", "cy").exit_code == 0
    again = run("create", "cy")
    assert again.exit_code == 2 and "already a user named 'cy'" in again.output
    unknown = run("login", "nobody")
    assert unknown.exit_code == 2 and "No user is named 'nobody'" in unknown.output
