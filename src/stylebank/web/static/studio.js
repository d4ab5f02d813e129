// The StyleBank studio: load a photo, paint regions with a brush, give each region a style or blend, and see
// the result from the server's /api/stylize (the same HTTP API scripts use). No library, nothing fetched from
// elsewhere. Regions are kept as one label per pixel (0 = unpainted, 1..4 = a brush colour) at the preview size,
// painted without anti-aliasing so that the mask sent to the server has exact labels.
"use strict";

const PREVIEW_SIZE = 512;    // the longer side of the photo the brush paints on and the previews show
const THUMBNAIL_SIZE = 160;  // the small previews of the photo in every style
const LAYERS = [
  { name: "Everywhere else", hint: "eraser", color: null },
  { name: "Red", color: [230, 57, 70] },
  { name: "Green", color: [42, 157, 72] },
  { name: "Blue", color: [48, 110, 230] },
  { name: "Yellow", color: [240, 190, 20] },
];
const OVERLAY_ALPHA = 120;

const $ = (id) => document.getElementById(id);
const state = {
  styles: [],         // [{index, name, image}]
  limits: {},
  photoFile: null,    // what the user chose: the full-size download is made from it
  photoBlob: null,    // the photo at preview size, PNG
  width: 0, height: 0,
  labels: null,       // Uint8Array(width * height)
  undo: null,         // the labels before Automatic regions or Clear paint replaced them
  mixes: [],          // per layer: a weight (0-100) per style
  layer: 0,           // the brush (and the layer whose style is shown)
  thumbnails: [],     // object URLs of the photo in each style
};

// ---- talking to the server -------------------------------------------------------------------------------

async function post(path, form, attempts = 3) {
  const response = await fetch(path, { method: "POST", body: form });
  if (response.status === 503 && attempts > 1) {  // busy: wait as the server asks, then try again
    const seconds = Number(response.headers.get("Retry-After")) || 1;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return post(path, form, attempts - 1);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.blob();
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
  $("error").hidden = !error;
}

// ---- styles and blends -----------------------------------------------------------------------------------

function defaultMix(layer) {
  // the unpainted area starts in the first style, each brush colour in another one, so painting shows at once
  const weights = state.styles.map(() => 0);
  weights[layer % state.styles.length] = 100;
  return weights;
}

function spec(layer) {
  // the CLI's style spec for a layer: "2", or a blend "0:30,2:70"
  const weights = state.mixes[layer];
  const used = weights.map((weight, index) => [index, weight]).filter(([, weight]) => weight > 0);
  if (!used.length) throw new Error(`Choose a style for ${LAYERS[layer].name.toLowerCase()}.`);
  return used.length === 1 ? String(used[0][0]) : used.map(([index, weight]) => `${index}:${weight}`).join(",");
}

function presentLayers() {
  const seen = new Set();
  for (const label of state.labels) seen.add(label);
  return [...seen].sort((a, b) => a - b);
}

async function labelsPng() {
  // the labels as a grey PNG (label k = grey k): the server's mask, one region per distinct value, ascending
  const canvas = document.createElement("canvas");
  canvas.width = state.width; canvas.height = state.height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(state.width, state.height);
  state.labels.forEach((label, i) => { pixels.data.set([label, label, label, 255], 4 * i); });
  context.putImageData(pixels, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

async function stylizeForm(image, maxSize) {
  // what the page shows, as a /api/stylize form: one style for an unpainted (or wholly painted) photo, else a
  // mask with one style per painted layer, in ascending label order
  const form = new FormData();
  form.append("image", image, "photo.png");
  form.append("max_size", String(maxSize));
  form.append("strength", String($("strength").value / 100));
  form.append("preserve_color", String($("preserve-color").checked));
  const layers = presentLayers();
  if (layers.length === 1) {
    form.append("style", spec(layers[0]));
  } else {
    form.append("mask", await labelsPng(), "mask.png");
    form.append("region_styles", layers.map(spec).join(";"));
  }
  return form;
}

// ---- the preview -----------------------------------------------------------------------------------------

let previewRunning = false, previewAgain = false, previewTimer = null;

function schedulePreview(delay = 120) {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(refreshPreview, delay);
}

async function refreshPreview() {
  // one request at a time; changes made meanwhile are rendered once it returns
  if (!state.photoBlob) return;
  if (previewRunning) { previewAgain = true; return; }
  previewRunning = true;
  $("busy").hidden = false;
  try {
    do {
      previewAgain = false;
      const blob = await post("/api/stylize", await stylizeForm(state.photoBlob, PREVIEW_SIZE));
      setImage($("result"), blob);
      $("result").dataset.version = String(Number($("result").dataset.version || 0) + 1);
      showError(null);
    } while (previewAgain);
  } catch (error) {
    showError(error);
  } finally {
    previewRunning = false;
    $("busy").hidden = true;
  }
}

function setImage(img, blob) {
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
}

async function makeThumbnails(styles = state.styles) {
  // the photo in every style, small, one request after another
  if (!state.photoBlob) return;
  for (const style of styles) {
    const form = new FormData();
    form.append("image", state.photoBlob, "photo.png");
    form.append("style", String(style.index));
    form.append("max_size", String(THUMBNAIL_SIZE));
    try {
      const blob = await post("/api/stylize", form);
      const url = URL.createObjectURL(blob);
      state.thumbnails[style.index] = url;
      document.querySelectorAll(`img[data-thumbnail="${style.index}"]`).forEach((img) => { img.src = url; });
    } catch (error) {
      showError(error);
      return;
    }
  }
}

// ---- controls --------------------------------------------------------------------------------------------

function renderLayers() {
  const box = $("layers");
  box.replaceChildren(...LAYERS.map((layer, id) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "layer" + (id === state.layer ? " selected" : "");
    button.dataset.layer = String(id);
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", String(id === state.layer));
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = layer.color ? `rgb(${layer.color})` : "repeating-linear-gradient(45deg,#fff 0 3px,#ccc 3px 6px)";
    button.append(swatch, layer.hint ? `${layer.name} (${layer.hint})` : layer.name);
    button.addEventListener("click", () => { state.layer = id; renderLayers(); renderStyles(); });
    return button;
  }));
  $("layer-name").textContent = state.layer === 0 ? "everywhere else" : `the ${LAYERS[state.layer].name.toLowerCase()} region`;
}

function renderStyles() {
  const weights = state.mixes[state.layer];
  $("styles").replaceChildren(...state.styles.map((style) => {
    const card = document.createElement("div");
    card.className = "style" + (weights[style.index] > 0 ? " chosen" : "");
    card.dataset.style = String(style.index);
    const pictures = document.createElement("div");
    pictures.className = "pictures";
    pictures.title = `Use ${style.name} alone`;
    const styleImage = document.createElement("img");
    styleImage.alt = `${style.name}: the style image`;
    if (style.image) styleImage.src = style.image;
    const thumbnail = document.createElement("img");
    thumbnail.alt = `your photo in ${style.name}`;
    thumbnail.dataset.thumbnail = String(style.index);
    if (state.thumbnails[style.index]) thumbnail.src = state.thumbnails[style.index];
    pictures.append(styleImage, thumbnail);
    pictures.addEventListener("click", () => {
      weights.fill(0);
      weights[style.index] = 100;
      renderStyles();
      schedulePreview(0);
    });
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = style.name;
    const slider = document.createElement("input");
    slider.type = "range"; slider.min = "0"; slider.max = "100"; slider.value = String(weights[style.index]);
    slider.setAttribute("aria-label", `${style.name} weight`);
    slider.addEventListener("input", () => {
      weights[style.index] = Number(slider.value);
      card.classList.toggle("chosen", weights[style.index] > 0);
      schedulePreview();
    });
    card.append(pictures, name, slider);
    return card;
  }));
}

// ---- painting --------------------------------------------------------------------------------------------

function drawOverlay() {
  const canvas = $("paint-canvas");
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(state.width, state.height);
  state.labels.forEach((label, i) => {
    if (label) pixels.data.set([...LAYERS[label].color, OVERLAY_ALPHA], 4 * i);
  });
  context.putImageData(pixels, 0, 0);
}

function stamp(x, y) {
  // a filled disc of the current label, hard-edged
  const radius = Number($("brush-size").value) / 2;
  const { width, height, labels } = state;
  for (let row = Math.max(0, Math.floor(y - radius)); row <= Math.min(height - 1, Math.ceil(y + radius)); row++) {
    for (let col = Math.max(0, Math.floor(x - radius)); col <= Math.min(width - 1, Math.ceil(x + radius)); col++) {
      if ((col - x) ** 2 + (row - y) ** 2 <= radius * radius) labels[row * width + col] = state.layer;
    }
  }
}

function strokeTo(from, to) {
  const step = Math.max(1, Number($("brush-size").value) / 4);
  const distance = Math.hypot(to.x - from.x, to.y - from.y);
  for (let t = 0; t <= distance; t += step) {
    stamp(from.x + (to.x - from.x) * t / distance, from.y + (to.y - from.y) * t / distance);
  }
  stamp(to.x, to.y);
}

function setUpBrush() {
  const canvas = $("paint-canvas");
  let last = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return { x: (event.clientX - box.left) * canvas.width / box.width,
             y: (event.clientY - box.top) * canvas.height / box.height };
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    forgetUndo();  // a new stroke: undoing the replacement now would lose it
    if (state.layer === 0 && !state.labels.some(Boolean)) {
      // the eraser on an unpainted photo does nothing: the first stroke paints the first region instead
      state.layer = 1;
      renderLayers();
      renderStyles();
    }
    last = point(event);
    stamp(last.x, last.y);
    drawOverlay();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    strokeTo(last, next);
    last = next;
    drawOverlay();
  });
  const finish = () => { if (last) { last = null; schedulePreview(0); } };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
}

function keepForUndo() {
  // before a button replaces the whole painting (Automatic regions, Clear paint)
  state.undo = state.labels.slice();
  $("undo").hidden = false;
}

function forgetUndo() {
  state.undo = null;
  $("undo").hidden = true;
}

function undo() {
  if (!state.undo) return;
  state.labels.set(state.undo);
  forgetUndo();
  drawOverlay();
  schedulePreview(0);
}

async function automaticRegions() {
  const count = Number($("kmeans-count").value);
  const form = new FormData();
  form.append("image", state.photoBlob, "photo.png");
  form.append("regions", String(count));
  form.append("max_size", String(PREVIEW_SIZE));
  try {
    const bitmap = await createImageBitmap(await post("/api/regions", form));
    const canvas = new OffscreenCanvas(state.width, state.height);
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0, state.width, state.height);
    const pixels = context.getImageData(0, 0, state.width, state.height).data;
    keepForUndo();  // the regions replace whatever was painted: one click brings the painting back
    for (let i = 0; i < state.labels.length; i++) state.labels[i] = pixels[4 * i] + 1;  // region k: brush k + 1
    drawOverlay();
    schedulePreview(0);
  } catch (error) {
    showError(error);
  }
}

// ---- loading a photo -------------------------------------------------------------------------------------

async function loadPhoto(file) {
  if (!(await started)) return;  // the server could not be reached: that error stays on the page
  showError(null);
  if (state.limits.max_upload_bytes && file.size > state.limits.max_upload_bytes) {
    showError(`This file is ${(file.size / 1e6).toFixed(1)} MB; the studio takes up to ` +
              `${(state.limits.max_upload_bytes / 1e6).toFixed(0)} MB (stylebank serve --max-upload-mb).`);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (_) {
    showError(`${file.name}: this browser cannot read it as an image; try a PNG, JPEG or WebP file.`);
    return;
  }
  const scale = Math.min(1, PREVIEW_SIZE / Math.max(bitmap.width, bitmap.height));
  state.width = Math.max(1, Math.round(bitmap.width * scale));
  state.height = Math.max(1, Math.round(bitmap.height * scale));
  for (const id of ["photo-canvas", "paint-canvas"]) {
    $(id).width = state.width;
    $(id).height = state.height;
  }
  const context = $("photo-canvas").getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, state.width, state.height);
  state.photoFile = file;
  state.photoBlob = await new Promise((resolve) => $("photo-canvas").toBlob(resolve, "image/png"));
  state.labels = new Uint8Array(state.width * state.height);
  forgetUndo();
  state.thumbnails.forEach((url) => url && URL.revokeObjectURL(url));
  state.thumbnails = [];
  drawOverlay();
  $("drop-zone").hidden = true;
  $("workspace").hidden = false;
  $("controls").hidden = false;
  renderStyles();
  await refreshPreview();
  await makeThumbnails();
}

function setUpDropZone() {
  const zone = $("drop-zone");
  $("photo-input").addEventListener("change", (event) => {
    if (event.target.files.length) loadPhoto(event.target.files[0]);
    event.target.value = "";
  });
  // a photo dropped anywhere on the page is taken; the browser would otherwise open it in place of the studio
  document.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  document.addEventListener("dragleave", () => zone.classList.remove("over"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) loadPhoto(event.dataTransfer.files[0]);
  });
  $("new-photo").addEventListener("click", () => $("photo-input").click());
}

// ---- the full-size download ------------------------------------------------------------------------------

async function download() {
  const button = $("download");
  button.disabled = true;
  button.textContent = "Rendering full size…";
  try {
    const blob = await post("/api/stylize", await stylizeForm(state.photoFile, 0));
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${state.photoFile.name.replace(/\.[^.]*$/, "") || "photo"}_stylebank.png`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    showError(null);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
    button.textContent = "Download full size (PNG)";
  }
}

// ---- adding a style --------------------------------------------------------------------------------------

function newStyleName(file) {
  // the file's name, in the characters the server takes, not one the model has
  const base = file.name.replace(/\.[^.]*$/, "").replace(/[^\w \-]/g, " ").trim().slice(0, 34) || "my style";
  const taken = new Set(state.styles.map((style) => style.name));
  let name = base;
  for (let number = 2; taken.has(name); number += 1) name = `${base} ${number}`;
  return name;
}

async function addStyle(file) {
  // the server learns the painting's style in about a minute; the page shows how far it is, then the new style
  const status = $("learning");
  const form = new FormData();
  form.append("image", file, file.name);
  form.append("name", newStyleName(file));
  status.hidden = false;
  status.textContent = "Sending the painting…";
  try {
    const response = await fetch("/api/styles", { method: "POST", body: form });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    let job;
    do {
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await (await fetch(answer.status)).json();
      status.textContent = job.progress > 0
        ? `Learning “${job.name}”: ${Math.round(job.progress * 100)}%, about ${job.seconds_left} s left`
        : `Learning “${job.name}”: preparing…`;
    } while (job.state === "learning");
    if (job.state === "failed") throw new Error(job.error);
    const model = await (await fetch("/api/styles")).json();
    const added = model.styles.slice(state.styles.length);
    state.styles = model.styles;
    state.mixes.forEach((weights) => added.forEach(() => weights.push(0)));
    renderStyles();
    const link = document.createElement("a");
    link.href = `/api/styles/${job.index}/file`;
    link.download = `${job.name}.safetensors`;
    link.textContent = "download its style file";
    status.replaceChildren(`“${job.name}” added (this session only): `, link);
    makeThumbnails(added);
  } catch (error) {
    status.hidden = true;
    showError(error);
  }
}

// ---- start -----------------------------------------------------------------------------------------------

async function start() {
  // resolves to whether the model's styles arrived and the controls are set up; a photo chosen before then
  // waits for it (loadPhoto), so a quick first pick is not lost
  try {
    const response = await fetch("/api/styles");
    const model = await response.json();
    state.styles = model.styles;
    state.limits = model.limits;
    state.mixes = LAYERS.map((_, id) => defaultMix(id));
    $("model-name").textContent = `${model.model}: ${model.styles.map((style) => style.name).join(", ")}`;
  } catch (error) {
    showError(`Cannot reach the studio's server (${error.message}); is stylebank serve still running?`);
    return false;
  }
  renderLayers();
  setUpBrush();
  $("kmeans").addEventListener("click", automaticRegions);
  $("clear").addEventListener("click", () => { keepForUndo(); state.labels.fill(0); drawOverlay(); schedulePreview(0); });
  $("undo").addEventListener("click", undo);
  $("strength").addEventListener("input", () => schedulePreview());
  $("preserve-color").addEventListener("change", () => schedulePreview(0));
  $("download").addEventListener("click", download);
  $("style-input").addEventListener("change", (event) => {
    if (event.target.files.length) addStyle(event.target.files[0]);
    event.target.value = "";
  });
  document.body.dataset.ready = "true";
  return true;
}

setUpDropZone();
const started = start();
