// Search: by text (the URL holds the query: #/search?q=red+bike+in%3AC0123ABCD), or by an
// example image dropped on the page (seed 001: limit and score threshold). The filter
// panel writes the query language into the box (in:, after:, before:, has:text, is:liked),
// so what the box says is what is searched, as in Slack.

import { api, query } from "../api.js";
import { dropZone, grid, h, matched, moreButton, notify, score, snippet, statusLine, strong, tile } from "../ui.js";

const PAGE = 15;
const FILTERS = ["source", "min_score"];
// The panel's fields and the token each writes into the box.
const TOKENS = {
  channel: (v) => (v ? `in:${v.startsWith("#") || /^[CGD][A-Z0-9]{6,}$/i.test(v) ? v : `#${v}`}` : ""),
  from: (v) => (v ? `after:${v}` : ""),
  to: (v) => (v ? `before:${nextDay(v)}` : ""),
  has_text: (v) => (v ? "has:text" : ""),
  liked: (v) => (v ? "is:liked" : ""),
};
const OPERATOR = /^-?(in|from|after|before|on|has|is):/i;

export const title = ({ params }) => (params.get("q") ? `“${params.get("q")}”` : "Search");

export function render(root, { params }, signal) {
  const value = (name) => params.get(name) || "";
  const form = h("form", { class: "search", role: "search", onsubmit: submit },
    h("div", { class: "row" },
      h("input", { type: "search", name: "q", value: value("q"), required: true, maxlength: 500, autofocus: true,
        placeholder: "Describe what you are looking for", "aria-label": "Search images by text" }),
      h("button", { type: "submit" }, "Search")),
    h("details", { class: "filters", open: FILTERS.some((f) => params.get(f)) },
      h("summary", {}, "Filters"),
      h("div", { class: "fields", oninput: writeTokens },
        field("Source", h("select", { name: "source" },
          ["", "web", "slack", "folder"].map((s) => h("option", { value: s, selected: s === value("source") }, s || "any")))),
        field("Channel", h("input", { name: "channel", maxlength: 64, placeholder: "#design or C0123ABCD" })),
        field("Added from", h("input", { type: "date", name: "from" })),
        field("Added until", h("input", { type: "date", name: "to" })),
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "has_text" }), "Has text"),
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "liked" }), "Liked by me"),
        field("Least score", h("input", { type: "number", name: "min_score", value: value("min_score"),
          min: -1, max: 1, step: 0.01, placeholder: "none" }))),
      h("p", { class: "hint" }, 'In the box: "exact phrase", -word, in:#channel, from:@name, after:/before:/on:YYYY-MM-DD, has:text, is:liked.')));

  const limit = h("input", { type: "number", name: "limit", value: 10, min: 1, max: 100, "aria-label": "How many similar images" });
  const example = dropZone(h("input", { type: "file", accept: "image/*", class: "visually-hidden" }),
    "Or search by example: drop an image here, or choose one", (files) => files[0] && byExample(files[0]));
  const status = statusLine();
  const results = grid("Search results");
  root.append(h("section", { class: "view" },
    h("h1", { class: "visually-hidden" }, "Search"), form,
    h("div", { class: "example" }, example, h("label", { class: "inline" }, "Show ", limit, " images")),
    status, results));

  const q = params.get("q");
  if (q) byText(q);
  else status.textContent = "Search your team's images by what they show or by their captions.";

  // The panel's fields, as tokens at the end of the box (replacing those it wrote before).
  function writeTokens(event) {
    if (!(event.target.name in TOKENS)) return;
    const box = form.elements.q;
    const written = Object.entries(TOKENS).map(([name, token]) => {
      const control = form.elements[name];
      return token(control.type === "checkbox" ? control.checked : control.value.trim());
    });
    const kept = box.value.split(/\s+/).filter((word) => word && !OPERATOR.test(word));
    box.value = [...kept, ...written.filter(Boolean)].join(" ");
  }

  function submit(event) {
    event.preventDefault();
    const { q, source, min_score } = Object.fromEntries(new FormData(form));
    location.hash = `#/search${query({ q, source, min_score })}`; // the router renders the search
  }

  function byText(text) {
    const filters = { source: value("source"), score_threshold: value("min_score") };
    let page = 0;
    let shown = 0;
    status.textContent = "Searching…";
    const more = moreButton(async () => {
      page += 1;
      let found;
      try {
        found = await api(`/api/search${query({ q: text, page, limit: PAGE, ...filters })}`, { signal });
      } catch (error) {
        if (!shown) status.textContent = "";
        throw error;
      }
      results.append(...found.results.map((r) =>
        tile(r, ...(r.strong ? [strong()] : []), score(r.score), matched(r.matched), ...r.snippets.map(snippet))));
      shown += found.results.length;
      const narrowed = Object.values(filters).some(Boolean) || found.query.split(" ").some((w) => OPERATOR.test(w));
      status.textContent = !shown
        ? `Nothing matches “${found.query}”${narrowed ? " with these filters" : ""}.`
        : found.strong_count
          ? `${found.strong_count} strong ${found.strong_count === 1 ? "match" : "matches"} for “${found.query}”, ` +
            `${found.total_found}${found.total_found >= 300 ? "+" : ""} images in all.`
          : `No strong match for “${found.query}”; the closest images are below.`;
      return found.results.length === PAGE && shown < found.total_found;
    });
    root.querySelector("section").append(more);
    signal.addEventListener("abort", more.stop);
  }

  async function byExample(file) {
    const data = new FormData();
    data.append("image_file", file, file.name);
    data.append("limit", limit.value || 10);
    if (form.elements.min_score.value) data.append("score_threshold", form.elements.min_score.value);
    history.replaceState(null, "", "#/search"); // the example is not in the URL: the page stays, unlinked to a query
    form.elements.q.value = "";
    root.querySelector(".more")?.remove();
    results.replaceChildren();
    status.textContent = `Looking for images like ${file.name}…`;
    try {
      const found = await api("/api/images/search-similar", { method: "POST", body: data, signal });
      results.append(...found.results.map(({ score: s, metadata: m }) => tile(m, score(s))));
      status.textContent = found.total_found
        ? `${found.total_found} images look like ${file.name}.`
        : `No image looks like ${file.name}${data.has("score_threshold") ? " above that score" : ""}.`;
    } catch (error) {
      status.textContent = "";
      notify(error);
    }
  }
}

const field = (label, control) => h("label", {}, h("span", {}, label), control);

// The day after an ISO date (before: is exclusive: "until the 3rd" is before:4th).
function nextDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}
