// Your feed (#/feed): images picked from your likes, clicks and searches, each with the
// reason it is there; it scrolls on without end. Fresh images first; once you have seen
// them all, a note says so and the images you saw longest ago come round again.

import { api } from "../api.js";
import { grid, h, moreButton, statusLine, tile } from "../ui.js";

const PAGE = 24;

export const title = () => "Your feed";

export function render(root, _route, signal) {
  const intro = statusLine();
  const results = grid("Your feed");
  let cursor = null;
  let caughtUp = false;
  const more = moreButton(async () => {
    const first = cursor === null;
    const found = await api(`/api/feed?limit=${PAGE}${first ? "" : `&cursor=${cursor}`}`, { signal });
    cursor = found.next_cursor;
    if (first) {
      intro.textContent = found.personal
        ? "Picked for you from what you liked, looked at and searched for."
        : "findimage does not know your taste yet: like images (♥) or search, and your feed will follow. " +
          "Meanwhile, here is what is new and popular.";
      intro.classList.toggle("cold", !found.personal);
    }
    const tiles = found.results.map((item) => tile(item, reason(item)));
    const firstSeen = found.results.findIndex((item) => item.seen_before);
    if (found.caught_up && !caughtUp && (tiles.length || results.children.length)) {
      caughtUp = true;  // once per scroll, between the last fresh image and the first seen before
      const at = firstSeen < 0 ? tiles.length : firstSeen;
      results.append(...tiles.slice(0, at), caughtUpNote(), ...tiles.slice(at));
    } else {
      results.append(...tiles);
    }
    if (!results.querySelector(".tile")) intro.textContent = "No images yet: upload some, or share them in Slack.";
    return found.results.length === PAGE;
  });
  signal.addEventListener("abort", more.stop);
  root.append(h("section", { class: "view" }, h("h1", {}, "Your feed"), intro, results, more));
}

const caughtUpNote = () => h("li", { class: "caught-up" },
  "You are all caught up: you have seen every new image. Here are ones you saw a while ago.");

function reason({ reason: text, because_image: image }) {
  if (!image) return h("span", { class: "reason" }, text);
  return h("a", { class: "reason", href: `#/image/${image}` }, text);
}
