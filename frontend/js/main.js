// The page's router: the URL's hash names the view (#/search?q=cat, #/image/12, #/feed,
// #/upload, #/history), so every view can be shared, reloaded and reached with Back.

import { api } from "./api.js";
import { clearNotice, notify } from "./ui.js";
import * as feed from "./views/feed.js";
import * as history from "./views/history.js";
import * as image from "./views/image.js";
import * as search from "./views/search.js";
import * as upload from "./views/upload.js";

const VIEWS = { search, feed, upload, history, image };
const root = document.getElementById("view");
let current = null; // { name, controller } of the view on screen

export function parseRoute(hash) {
  const [path, queryText = ""] = hash.replace(/^#\/?/, "").split("?");
  const [name, argument] = path.split("/");
  return { name: VIEWS[name] ? name : "search", argument, params: new URLSearchParams(queryText) };
}

function show() {
  const route = parseRoute(location.hash);
  if (current) current.controller.abort(); // late answers for the old view are dropped
  const controller = new AbortController();
  current = { name: route.name, controller };
  clearNotice();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === route.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  root.replaceChildren();
  document.title = `${VIEWS[route.name].title(route)} · findimage`;
  VIEWS[route.name].render(root, route, controller.signal);
  if (document.activeElement && document.activeElement !== document.body && !root.contains(document.activeElement)) {
    root.focus({ preventScroll: true }); // keyboard users start at the new view
  }
  window.scrollTo(0, 0);
}

async function whoAmI() {
  try {
    const me = await api("/api/me");
    document.getElementById("me").textContent = me.name;
  } catch (error) {
    notify(error);
  }
}

window.addEventListener("hashchange", show);
show();
whoAmI();
