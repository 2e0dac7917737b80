// Small building blocks shared by the views: elements, the notice bar, image tiles with
// their hearts, and "show more" buttons that also load by themselves when scrolled to.

import { like, notInterested } from "./api.js";

// h("a", {href: "#/feed", class: "x"}, "text", child): an element. Attributes starting
// with "on" become listeners; false/null attributes and children are left out.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

const noticeBar = () => document.getElementById("notice");

// Show an error (an ApiError or any Error) at the top of the page.
export function notify(error) {
  if (error && error.name === "AbortError") return;
  const bar = noticeBar();
  const close = h("button", { type: "button", class: "link", onclick: clearNotice }, "Dismiss");
  bar.replaceChildren(h("span", {}, error.message || String(error)), close);
  if (error.status === 401) bar.append(signInHelp());
  bar.hidden = false;
}

export function clearNotice() {
  const bar = noticeBar();
  bar.hidden = true;
  bar.replaceChildren();
}

function signInHelp() {
  return h("p", { class: "hint" },
    "To sign in, open a login link: in Slack, type ", h("code", {}, "/findimage feed"),
    "; or ask an admin to run ", h("code", {}, "findimage user create NAME"), ".");
}

// A line that screen readers announce when it changes.
export const statusLine = () => h("p", { class: "status", role: "status", "aria-live": "polite" });

export const grid = (label) => h("ul", { class: "grid", "aria-label": label });

// One image in a grid: its thumbnail (a link to its page), a heart, a "Not interested"
// button, and what to say about it.
export function tile({ id, thumbnail_url, caption, liked = false }, ...details) {
  const description = caption || `Image ${id}`;
  const item = h("li", { class: "tile", "data-id": id },
    h("a", { href: `#/image/${id}`, class: "thumb" },
      h("img", { src: thumbnail_url, alt: description, loading: "lazy", decoding: "async", onload: fitWhole })),
  );
  item.append(h("div", { class: "meta" },
    h("div", { class: "details" }, caption && h("span", { class: "caption" }, caption), ...details),
    h("div", { class: "actions" }, heart(id, liked, description), hideButton(id, description, item))));
  return item;
}

// A square tile crops a photo a little, but would cut off the ends of a wide screenshot's
// lines (or the top and bottom of a phone's): past 1.55:1 either way (16:10 and wider; 3:2
// photos stay cropped) the whole image is shown, letterboxed.
const WHOLE_PAST = 1.55;
function fitWhole({ target: img }) {
  const wide = img.naturalWidth / img.naturalHeight;
  img.classList.toggle("whole", wide > WHOLE_PAST || wide < 1 / WHOLE_PAST);
}

// "Not interested": the tile folds into a note with Undo; the feed will not show it again.
function hideButton(id, description, item) {
  const note = h("p", { class: "hidden-note", role: "status" }, "Hidden: not in your feed again. ");
  const undo = h("button", { type: "button", class: "link" }, "Undo");
  note.append(undo);
  const show = (hidden) => {
    item.classList.toggle("hidden-tile", hidden);
    if (hidden) item.append(note);
    else note.remove();
  };
  const toggle = (hidden) => async () => {
    show(hidden);
    try {
      await notInterested(id, hidden);
      (hidden ? undo : button).focus();
    } catch (error) {
      show(!hidden);
      notify(error);
    }
  };
  const button = h("button", { type: "button", class: "hide", title: "Not interested",
    "aria-label": `Not interested in ${description}`, onclick: toggle(true) }, "✕");
  undo.addEventListener("click", toggle(false));
  return button;
}

// The like toggle: flips at once, tells the API, flips back (and says why) if that fails.
export function heart(id, liked, description) {
  const button = h("button", { type: "button", class: "heart", "aria-label": `Like ${description}` }, "♥");
  const show = (on) => {
    button.setAttribute("aria-pressed", String(on));
    button.title = on ? "Liked: click to unlike" : "Like";
  };
  show(liked);
  button.addEventListener("click", async () => {
    const wanted = button.getAttribute("aria-pressed") !== "true";
    show(wanted);
    try {
      await like(id, wanted);
    } catch (error) {
      show(!wanted);
      notify(error);
    }
  });
  return button;
}

export const score = (value) => h("span", { class: "score", title: "Cosine similarity" }, value.toFixed(3));

// Which channels found a result: what it shows ("image"), its caption, the words in it.
export const matched = (how) =>
  h("span", { class: "matched" }, how.map((m) => (m === "text" ? "caption" : m)).join(" + "));

// A piece of the words that matched, the query's words in <mark> (the API gives offsets,
// never markup: the text is set as text).
export function snippet({ field, text, marks }) {
  const parts = [];
  let at = 0;
  for (const [start, end] of marks) {
    parts.push(text.slice(at, start), h("mark", {}, text.slice(start, end)));
    at = end;
  }
  parts.push(text.slice(at));
  const where = { ocr: "in the image", caption: "caption", filename: "file name" }[field] || field;
  return h("span", { class: "snippet", title: `Matched ${where}` }, ...parts);
}

export const strong = () => h("span", { class: "strong", title: "A strong match" }, "strong");

// A "Show more" button that also presses itself when it scrolls into view (infinite
// scroll), never twice at once. load() returns false when there is nothing more.
export function moreButton(load, label = "Show more") {
  const button = h("button", { type: "button", class: "more" }, label);
  let busy = false;
  const press = async () => {
    if (busy || button.hidden) return;
    busy = true;
    button.disabled = true;
    button.textContent = "Loading…";
    try {
      button.hidden = !(await load());
    } catch (error) {
      notify(error);
    } finally {
      busy = false;
      button.disabled = false;
      button.textContent = label;
    }
  };
  button.addEventListener("click", press);
  const watcher = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) press();
  }, { rootMargin: "400px" });
  watcher.observe(button);
  button.stop = () => watcher.disconnect();
  return button;
}

// A drop zone around a file input: click, keyboard (it is a label) or drag and drop.
export function dropZone(input, text, onFiles) {
  const zone = h("label", { class: "drop" }, input, h("span", {}, text));
  const over = (on) => (event) => {
    event.preventDefault();
    zone.classList.toggle("over", on);
  };
  zone.addEventListener("dragover", over(true));
  zone.addEventListener("dragleave", over(false));
  zone.addEventListener("drop", (event) => {
    over(false)(event);
    onFiles([...event.dataTransfer.files]);
  });
  input.addEventListener("change", () => {
    onFiles([...input.files]);
    input.value = "";
  });
  return zone;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export const when = (iso) => dateFormat.format(new Date(iso));  // the API's times carry their zone

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
