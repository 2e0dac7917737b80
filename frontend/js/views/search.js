// Search: by text (the URL holds the query and filters: #/search?q=red+bike&source=slack)
// or by an example image dropped on the page (seed 001: limit and score threshold).

import { api, query } from "../api.js";
import { dropZone, grid, h, matched, moreButton, notify, score, statusLine, tile } from "../ui.js";

const PAGE = 15;
const FILTERS = ["source", "channel", "from", "to", "min_score"];

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
      h("div", { class: "fields" },
        field("Source", h("select", { name: "source" },
          ["", "web", "slack", "folder"].map((s) => h("option", { value: s, selected: s === value("source") }, s || "any")))),
        field("Channel id", h("input", { name: "channel", value: value("channel"), maxlength: 64, placeholder: "C0123ABCD" })),
        field("Added from", h("input", { type: "date", name: "from", value: value("from") })),
        field("Added until", h("input", { type: "date", name: "to", value: value("to") })),
        field("Least score", h("input", { type: "number", name: "min_score", value: value("min_score"),
          min: -1, max: 1, step: 0.01, placeholder: "none" })))));

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

  function submit(event) {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    location.hash = `#/search${query(data)}`; // the router renders the search
  }

  function byText(text) {
    const filters = {
      source: value("source"),
      channel: value("channel"),
      after: value("from") && new Date(`${value("from")}T00:00`).toISOString(),
      before: value("to") && new Date(new Date(`${value("to")}T00:00`).getTime() + 86400000).toISOString(),
      score_threshold: value("min_score"),
    };
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
      results.append(...found.results.map((r) => tile(r, score(r.score), matched(r.matched))));
      shown += found.results.length;
      status.textContent = shown
        ? `${found.total_found}${found.total_found >= 300 ? "+" : ""} images match “${found.query}”.`
        : `Nothing matches “${found.query}”${Object.values(filters).some(Boolean) ? " with these filters" : ""}.`;
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
