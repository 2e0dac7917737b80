// Talking to findimage's API. Every failure becomes an ApiError carrying the API's own
// message ({"error": {"code", "message"}}), or a plain one when there was no answer.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const OFFLINE = "findimage cannot be reached. Check your connection and try again.";

export async function api(path, { method = "GET", body, signal } = {}) {
  let response;
  try {
    response = await fetch(path, { method, body, signal, headers: { Accept: "application/json" } });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", OFFLINE);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw errorOf(response.status, data);
  return data;
}

// A query string from the values that are set: query({q: "cat", page: 2, channel: ""}) is "?q=cat&page=2".
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const one of [value].flat()) {
      if (one !== undefined && one !== null && one !== "") search.append(key, one);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// One file to POST /api/images, reporting upload progress (0..1): fetch cannot, XHR can.
export function uploadImage(file, caption, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/images");
    request.responseType = "json";
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) resolve(request.response);
      else reject(errorOf(request.status, request.response));
    });
    request.addEventListener("error", () => reject(new ApiError(0, "unreachable", OFFLINE)));
    const form = new FormData();
    form.append("files", file, file.name);
    if (caption) form.append("caption", caption);
    request.send(form);
  });
}

export const like = (id, liked) => api(`/api/images/${id}/like`, { method: liked ? "PUT" : "DELETE" });
export const notInterested = (id, on) => api(`/api/images/${id}/not-interested`, { method: on ? "PUT" : "DELETE" });

function errorOf(status, data) {
  const error = data && data.error;
  if (error && error.message) return new ApiError(status, error.code, error.message);
  if (status === 413) return new ApiError(status, "too_large", "The file is too large.");
  return new ApiError(status, `http_${status}`, `findimage answered ${status}. Try again in a moment.`);
}
