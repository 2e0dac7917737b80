"""The job of the repost notice (``services.reposts``): reply in the new image's thread."""

import logging

from slack_sdk.errors import SlackApiError

from core.models import Image, ImageStatus
from core.slack import web_client
from services.reposts import notice, posted_before
from worker.context import current_runtime

log = logging.getLogger(__name__)


def notice_repost(image_id: int) -> str:
    runtime = current_runtime()
    with runtime.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != ImageStatus.indexed or not image.slack_ts:
            return "gone"
        session.expunge(image)
    before = posted_before(runtime, image)
    if before is None:
        return "new"
    try:
        web_client(runtime.settings).chat_postMessage(channel=image.slack_channel, thread_ts=image.slack_ts,
                                                      text=notice(runtime, before), unfurl_links=False)
    except SlackApiError as exc:
        log.warning("Could not say image %s was posted before: %s", image_id, exc.response.get("error"))
        return "unsaid"
    return "noticed"
