// Your feed (#/feed): images picked from your likes, clicks and searches, each with the
// reason it is there; it scrolls on without end (the API never repeats an image).

import { api } from "../api.js";
import { grid, h, moreButton, statusLine, tile } from "../ui.js";

const PAGE = 24;

export const title = () => "Your feed";

export function render(root, _route, signal) {
  const intro = statusLine();
  const results = grid("Your feed");
  let page = 0;
  const more = moreButton(async () => {
    page += 1;
    const found = await api(`/api/feed?page=${page}&limit=${PAGE}`, { signal });
    if (page === 1) {
      intro.textContent = found.personal
        ? "Picked for you from what you liked, looked at and searched for."
        : "findimage does not know your taste yet: like images (♥) or search, and your feed will follow. " +
          "Meanwhile, here is what is new and popular.";
      intro.classList.toggle("cold", !found.personal);
    }
    results.append(...found.results.map((item) => tile(item, reason(item))));
    if (!results.children.length) intro.textContent = "No images yet: upload some, or share them in Slack.";
    else if (found.results.length < PAGE) results.after(h("p", { class: "empty end" }, "That is all for now: come back later."));
    return found.results.length === PAGE;
  });
  signal.addEventListener("abort", more.stop);
  root.append(h("section", { class: "view" }, h("h1", {}, "Your feed"), intro, results, more));
}

function reason({ reason: text, because_image: image }) {
  if (!image) return h("span", { class: "reason" }, text);
  return h("a", { class: "reason", href: `#/image/${image}` }, text);
}
