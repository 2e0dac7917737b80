"""A page on another origin, in a real browser, cannot make findimage do anything."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factories import distinct_jpeg

UPLOAD = """
const bytes = Uint8Array.from(atob(%s), c => c.charCodeAt(0));
const form = new FormData();
form.append("files", new Blob([bytes], {type: "image/jpeg"}), "kitten.jpg");
"""
ATTACK = """<!doctype html><title>Free kittens</title><script>%s
// no-cors: the browser sends it without asking first, and with the user's cookies
window.sent = fetch(%s, {method: "POST", body: form, mode: "no-cors", credentials: "include"})
  .then(() => "sent", error => "failed: " + error);
</script>"""
KITTEN = json.dumps(base64.b64encode(distinct_jpeg(3)).decode())


@pytest.fixture
def other_site(live):
    """A page served from ``localhost`` on another port: another site, on this machine
    (so the browser's rules for reaching local addresses do not stop it first)."""
    page = (ATTACK % (UPLOAD % KITTEN, json.dumps(f"{live.url}/api/images"))).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_port}/kittens.html"
    server.shutdown()


def test_a_page_on_another_origin_cannot_upload(browser, live, other_site):
    page = browser.new_page()
    with page.expect_response(f"{live.url}/api/images") as answer:
        page.goto(other_site)
    assert page.evaluate("window.sent") == "sent"  # it reached findimage, which refused it ...
    assert answer.value.status == 403
    assert live.api.get("/api/images", params={"ids": [1, 2]}).json() == []  # ... and nothing was uploaded
    # The same upload from findimage's own page goes through.
    page.goto(live.url + "/")
    status = page.evaluate(f"async () => {{ {UPLOAD % KITTEN} return (await fetch('/api/images', {{method: 'POST', body: form}})).status; }}")
    page.close()
    assert status == 202
    assert len(live.api.get("/api/images", params={"ids": [1, 2]}).json()) == 1
