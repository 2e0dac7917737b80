"""Signed, expiring links to an image's thumbnail, for places that cannot send our
cookie or token (Slack fetches the images of its messages itself)."""

import hashlib
import hmac
import time
from urllib.parse import urlencode

from core.models import thumbnail_url

LINK_TTL = 7 * 86400


def signed_thumbnail_url(base_url: str, secret: str, image_id: int, ttl: int = LINK_TTL, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + ttl)
    query = urlencode({"expires": expires, "signature": _signature(secret, image_id, expires)})
    return f"{base_url}{thumbnail_url(image_id)}?{query}"


def valid_signature(secret: str, image_id: int, expires: int, signature: str, now: float | None = None) -> bool:
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _signature(secret, image_id, expires))


def _signature(secret: str, image_id: int, expires: int) -> str:
    message = f"thumbnail:{image_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]
