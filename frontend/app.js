// Upload form: send the files, then follow each image until it is indexed (or failed).
const form = document.getElementById("upload");
const message = document.getElementById("message");
const list = document.getElementById("uploads");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.textContent = "Uploading…";
  const response = await fetch("/api/images", { method: "POST", body: new FormData(form) });
  const body = await response.json();
  if (!response.ok) {
    message.textContent = body.error.message;
    message.className = "error";
    return;
  }
  const rejected = body.rejected.map((r) => `${r.filename}: ${r.error.message}`);
  message.textContent = [`${body.images.length} accepted.`, ...rejected].join(" ");
  message.className = rejected.length ? "error" : "";
  body.images.forEach(show);
  form.reset();
});

function show(image) {
  const item = document.createElement("li");
  const thumb = document.createElement("img");
  thumb.src = image.thumbnail_url;
  thumb.alt = image.caption || `image ${image.id}`;
  const status = document.createElement("span");
  item.append(thumb, status);
  list.prepend(item);
  follow(image, status);
}

async function follow(image, status) {
  status.textContent = image.status;
  status.className = image.status;
  if (image.status !== "queued") return;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const response = await fetch(`/api/images/${image.id}`);
  if (response.ok) follow(await response.json(), status);
}
