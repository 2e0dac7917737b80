// Upload (#/upload): pick or drop images, caption each if you like, then watch each one
// upload (a progress bar) and get indexed (its status, polled). Uploads live on while you
// visit other views: this module keeps them.

import { api, query, uploadImage } from "../api.js";
import { bytes, dropZone, h } from "../ui.js";

const AT_ONCE = 3; // uploads in flight
const POLL_MS = 1000;

const uploads = []; // { file, preview, caption, state, progress, image, error }
let redraw = () => {};
let polling = null;

export const title = () => "Upload";

export function render(root, _route, signal) {
  const list = h("ul", { class: "uploads", "aria-label": "Images to upload" });
  const start = h("button", { type: "button", class: "primary", onclick: uploadAll }, "Upload");
  const clear = h("button", { type: "button", class: "link", onclick: clearDone }, "Clear finished");
  const summary = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const zone = dropZone(h("input", { type: "file", accept: "image/*", multiple: true, class: "visually-hidden" }),
    "Drop images here, or choose files", add);
  root.append(h("section", { class: "view" }, h("h1", {}, "Upload images"), zone, list,
    h("div", { class: "actions" }, start, clear), summary));

  redraw = (changed) => {
    if (changed) refresh(changed);
    else {
      list.replaceChildren(...uploads.map(rowOf));
      uploads.forEach(refresh);
    }
    const waiting = uploads.filter((u) => u.state === "ready").length;
    start.disabled = waiting === 0;
    start.textContent = waiting > 1 ? `Upload ${waiting} images` : "Upload";
    clear.hidden = !uploads.some(finished);
    summary.textContent = describe();
  };
  signal.addEventListener("abort", () => (redraw = () => {}));
  redraw();
}

function add(files) {
  for (const file of files) {
    uploads.push({ file, preview: URL.createObjectURL(file), caption: "", state: "ready", progress: 0 });
  }
  redraw();
}

// An upload's row is made once (so typing a caption survives other rows' progress);
// refresh() then brings its state up to date.
function rowOf(upload) {
  if (upload.row) return upload.row;
  const label = upload.file.name;
  upload.captionInput = h("input", { type: "text", maxlength: 4000, placeholder: "Caption (optional)",
    "aria-label": `Caption for ${label}`, oninput: (e) => (upload.caption = e.target.value) });
  upload.removeButton = h("button", { type: "button", class: "link", "aria-label": `Remove ${label}`,
    onclick: () => remove(upload) }, "Remove");
  upload.stateCell = h("div", { class: "progress" });
  upload.row = h("li", {},
    h("img", { src: upload.preview, alt: "", class: "preview", onerror: (e) => e.target.classList.add("broken") }),
    h("div", { class: "what" }, h("strong", {}, label), h("span", { class: "size" }, bytes(upload.file.size)), upload.captionInput),
    upload.stateCell, upload.removeButton);
  return upload.row;
}

function refresh(upload) {
  const ready = upload.state === "ready";
  rowOf(upload).dataset.state = upload.state;
  upload.captionInput.readOnly = !ready;
  upload.removeButton.hidden = !ready;
  const bar = upload.state === "uploading"
    ? h("progress", { max: 1, value: upload.progress, "aria-label": `Uploading ${upload.file.name}` })
    : null;
  upload.stateCell.replaceChildren(...[bar, h("span", { class: `state ${upload.state}` }, stateText(upload))].filter(Boolean));
}

function stateText({ state, progress, image, error }) {
  switch (state) {
    case "ready": return "Ready";
    case "pending": return "Waiting…";
    case "uploading": return `Uploading ${Math.round(progress * 100)}%`;
    case "queued": return "Uploaded · indexing…";
    case "indexed": return h("a", { href: `#/image/${image.id}` }, image.duplicate ? "Already in findimage · view" : "Indexed · view");
    case "failed": return `Could not be indexed: ${image.error || "unknown error"}`;
    case "rejected": return `Rejected: ${error}`;
    default: return state;
  }
}

function describe() {
  const count = (state) => uploads.filter((u) => u.state === state).length;
  const parts = [
    [count("uploading"), "uploading"], [count("queued"), "being indexed"], [count("indexed"), "indexed"],
    [count("rejected") + count("failed"), "not accepted"],
  ].filter(([n]) => n).map(([n, what]) => `${n} ${what}`);
  return parts.join(" · ");
}

const finished = (u) => ["indexed", "failed", "rejected"].includes(u.state);

function remove(upload) {
  URL.revokeObjectURL(upload.preview);
  uploads.splice(uploads.indexOf(upload), 1);
  redraw();
}

function clearDone() {
  for (const upload of uploads.filter(finished)) remove(upload);
}

async function uploadAll() {
  const waiting = uploads.filter((u) => u.state === "ready");
  waiting.forEach((u) => (u.state = "pending"));
  redraw();
  const next = async () => {
    const upload = waiting.shift();
    if (!upload) return;
    await send(upload);
    await next();
  };
  await Promise.all(Array.from({ length: AT_ONCE }, next));
}

async function send(upload) {
  upload.state = "uploading";
  redraw(upload);
  try {
    const answer = await uploadImage(upload.file, upload.caption.trim(), (done) => {
      upload.progress = done;
      redraw(upload);
    });
    if (answer.rejected.length) throw new Error(answer.rejected[0].error.message);
    settle(upload, answer.images[0]);
  } catch (error) {
    upload.state = "rejected";
    upload.error = error.message;
  }
  redraw(upload);
  follow();
}

function settle(upload, image) {
  upload.image = image;
  upload.state = image.status; // queued, indexed or failed
}

// Poll the images still being indexed, all in one request, until none is left.
function follow() {
  if (polling) return;
  polling = setTimeout(async () => {
    const queued = uploads.filter((u) => u.state === "queued");
    try {
      if (queued.length) {
        const images = await api(`/api/images${query({ ids: queued.slice(0, 100).map((u) => u.image.id) })}`);
        const byId = new Map(images.map((image) => [image.id, image]));
        for (const upload of queued) {
          const image = byId.get(upload.image.id);
          if (image) settle(upload, { ...image, duplicate: upload.image.duplicate });
        }
        redraw();
      }
    } catch {
      // The API may be restarting: keep the uploads as they are and ask again.
    }
    polling = null;
    if (uploads.some((u) => u.state === "queued")) follow();
  }, POLL_MS);
}
