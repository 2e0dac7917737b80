// History (#/history): your searches, clicks and likes, newest first; and forgetting them
// (which also resets your feed's taste).

import { api } from "../api.js";
import { h, moreButton, notify, statusLine, when } from "../ui.js";

const PAGE = 50;

export const title = () => "History";

export function render(root, _route, signal) {
  const status = statusLine();
  const list = h("ol", { class: "history", "aria-label": "Your history" });
  const clear = h("button", { type: "button", class: "danger", onclick: ask }, "Clear history");
  const confirm = h("div", { class: "confirm", hidden: true },
    h("span", {}, "Forget every search, click and like, and start your feed over?"),
    h("button", { type: "button", class: "danger", onclick: forget }, "Yes, clear it"),
    h("button", { type: "button", onclick: () => show(false) }, "Cancel"));
  let page = 0;
  const more = moreButton(async () => {
    page += 1;
    const items = await api(`/api/me/history?page=${page}&limit=${PAGE}`, { signal });
    list.append(...items.map(entry));
    empty();
    return items.length === PAGE;
  });
  signal.addEventListener("abort", more.stop);
  root.append(h("section", { class: "view" },
    h("div", { class: "heading" }, h("h1", {}, "History"), clear), confirm, status, list, more));

  function empty() {
    const none = list.children.length === 0;
    status.textContent = none ? "Nothing here yet: your searches, clicks and likes will show up here." : "";
    clear.disabled = none;
  }

  function show(asking) {
    confirm.hidden = !asking;
    clear.hidden = asking;
    (asking ? confirm.querySelector("button") : clear).focus();
  }

  function ask() {
    show(true);
  }

  async function forget() {
    try {
      await api("/api/me/history", { method: "DELETE", signal });
      list.replaceChildren();
      more.hidden = true;
      show(false);
      empty();
      status.textContent = "Your history is cleared, and your feed starts over.";
    } catch (error) {
      notify(error);
    }
  }
}

function entry(item) {
  const at = h("time", { datetime: item.at }, when(item.at));
  const thumb = item.image_id && h("a", { href: `#/image/${item.image_id}`, class: "thumb small" },
    h("img", { src: item.thumbnail_url, alt: `Image ${item.image_id}`, loading: "lazy" }));
  const found = item.result_count != null ? ` · ${item.result_count} results` : "";
  switch (item.kind) {
    case "text":
      return h("li", { class: "text" }, at, h("span", {}, "Searched ",
        h("a", { href: `#/search?q=${encodeURIComponent(item.query)}` }, `“${item.query}”`), found));
    case "image":
      return h("li", { class: "image" }, at, h("span", {}, `Searched by example: ${item.query}${found}`));
    case "click":
      return h("li", { class: "click" }, at, h("span", {}, "Looked for more like ", thumb));
    case "like":
      return h("li", { class: "like" }, at, h("span", {}, "Liked ", thumb));
    default:
      return h("li", {}, at, h("span", {}, item.kind));
  }
}
