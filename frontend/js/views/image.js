// One image (#/image/12): the picture, its caption and source, a heart, and more like it
// (7 neighbours by what it shows and 7 by its caption, seed 000), each clickable in turn.

import { api } from "../api.js";
import { bytes, grid, h, heart, matched, moreButton, notify, score, statusLine, tile, when } from "../ui.js";

const PAGES = 20; // the API's last page of neighbours

export const title = ({ argument }) => `Image ${argument}`;

export function render(root, { argument }, signal) {
  const id = Number.parseInt(argument, 10);
  const view = h("section", { class: "view detail" });
  root.append(view);
  if (!(id > 0)) {
    view.append(h("h1", {}, "No such image"), h("p", { class: "empty" }, `“${argument ?? ""}” is not an image id.`));
    return;
  }
  const status = statusLine();
  status.textContent = "Loading…";
  view.append(status);
  api(`/api/images/${id}`, { signal })
    .then((image) => {
      status.remove();
      view.prepend(...details(image));
      view.append(...similar(id, signal));
    })
    .catch((error) => {
      if (error.name === "AbortError") return;
      status.textContent = "";
      view.append(h("h1", {}, "Image not available"));
      notify(error);
    });
}

function details(image) {
  const description = image.caption || `Image ${image.id}`;
  const facts = [
    ["Source", image.source + (image.slack_channel ? ` · channel ${image.slack_channel}` : "")],
    ["Uploaded by", image.uploader],
    ["Added", when(image.created_at)],
    ["Size", `${image.width} × ${image.height} · ${bytes(image.size_bytes)} · ${image.mime}`],
    ["Status", image.status + (image.error ? `: ${image.error}` : "")],
  ].filter(([, value]) => value);
  return [
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "link", onclick: back }, "← Back"),
      heart(image.id, image.liked, description)),
    h("figure", {},
      h("a", { href: image.file_url, target: "_blank", rel: "noopener" },
        h("img", { src: image.file_url, alt: description, width: image.width, height: image.height })),
      h("figcaption", {}, h("h1", {}, image.caption || `Image ${image.id}`))),
    h("dl", { class: "facts" }, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
  ];
}

function similar(id, signal) {
  const results = grid("Similar images");
  const status = statusLine();
  let page = 0;
  const more = moreButton(async () => {
    page += 1;
    const found = await api(`/api/images/${id}/similar?page=${page}`, { signal });
    results.append(...found.results.map((r) => tile(r, score(r.score), matched(r.matched))));
    if (!results.children.length) status.textContent = "Nothing else is like it yet.";
    return found.results.length > 0 && page < PAGES;
  }, "More like this");
  signal.addEventListener("abort", more.stop);
  return [h("h2", {}, "More like this"), status, results, more];
}

function back() {
  if (history.length > 1) history.back();
  else location.hash = "#/search";
}
