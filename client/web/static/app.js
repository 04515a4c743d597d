// The page of `pix2pix-client web`: camera in, translated frames out, over one WebSocket to the
// local bridge (client/web/bridge.py). Live mode: one frame in flight at a time; the next one
// is captured only when the previous one came back or was dropped, so it is always the newest.
"use strict";

const $ = (id) => document.getElementById(id);
const STATE_TEXT = {
  starting: "Starting…",
  connecting: "Connecting to the server…",
  live: "Live.",
  "no-camera": "No camera: allow this page to use the camera, then reload.",
  unreachable: "Server unreachable: is pix2pix-serve running? Retrying…",
  "model-gone": "The server no longer has this model: pick another one.",
  auth: "The server refused the credentials: start pix2pix-client web with --token.",
  error: "Error.",
  "bridge-lost": "Lost the local web app (pix2pix-client web): reconnecting…",
};
const WATCHDOG_MS = 3000;   // a frame with no answer after this long is given up
const KEEP_SAMPLES = 2000;  // latency samples kept for window.pix2pix.samples()

const page = {
  ws: null, models: [], selected: null, camera: null,
  nextId: 1, inFlight: null, frames: new Map(),  // id -> {captured, sent}
  drawnAt: [], latencies: [], parts: [], drawn: 0, recorder: null,
  serverState: "connecting", cameraState: "starting",
};

// The size frames are sent at: the engine's compute size. The one place that decides it, and
// which part of the camera picture is used (the centre, cropped to the engine's aspect).
function computeSize(model, video) {
  const width = model.width, height = model.height;
  const scale = Math.min(video.videoWidth / width, video.videoHeight / height);
  const sw = width * scale, sh = height * scale;
  return { width, height, crop: [(video.videoWidth - sw) / 2, (video.videoHeight - sh) / 2, sw, sh] };
}

// -- wire format (client/web/wire.py): 2-byte header length, JSON header, JPEG --------------
function pack(header, jpegBuffer) {
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(2 + text.length + jpegBuffer.byteLength);
  new DataView(out.buffer).setUint16(0, text.length);
  out.set(text, 2);
  out.set(new Uint8Array(jpegBuffer), 2 + text.length);
  return out.buffer;
}

function unpack(buffer) {
  const length = new DataView(buffer).getUint16(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 2, length)));
  return { header, jpeg: new Blob([new Uint8Array(buffer, 2 + length)], { type: "image/jpeg" }) };
}

// -- states -----------------------------------------------------------------------------
function showState(state, message) {
  const el = $("state");
  el.dataset.state = state;
  document.body.dataset.state = state;
  el.textContent = STATE_TEXT[state] + (message && state !== "live" ? ` (${message})` : "");
}

function refreshState() {
  if (page.cameraState !== "ready") showState(page.cameraState, page.cameraMessage);
  else showState(page.serverState, page.serverMessage);
}

// -- camera -----------------------------------------------------------------------------
async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    page.cameraState = "no-camera";
    page.cameraMessage = "this browser offers no camera here; use http://localhost or https";
    return refreshState();
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    const video = $("camera");
    video.srcObject = stream;
    await video.play();
    page.camera = video;
    page.cameraState = "ready";
  } catch (error) {
    page.cameraState = "no-camera";
    page.cameraMessage = `${error.name}: ${error.message}`;
  }
  refreshState();
  sendNext();
}

// -- sending ----------------------------------------------------------------------------
function currentModel() {
  return page.models.find((m) => m.name === page.selected);
}

function sendNext() {
  const model = currentModel(), video = page.camera, ws = page.ws;
  if (page.inFlight !== null || !model || !video || video.readyState < 2 || !ws || ws.readyState !== 1) return;
  const size = computeSize(model, video);
  const canvas = $("capture");
  canvas.width = size.width;
  canvas.height = size.height;
  canvas.getContext("2d").drawImage(video, ...size.crop, 0, 0, size.width, size.height);
  const id = page.nextId++;
  const frame = { captured: performance.now(), sent: 0 };
  page.inFlight = id;
  page.frames.set(id, frame);
  canvas.toBlob(async (blob) => {
    const buffer = await blob.arrayBuffer();
    if (page.inFlight !== id || page.ws !== ws || ws.readyState !== 1) return;
    frame.sent = performance.now();
    ws.send(pack({ id }, buffer));
  }, "image/jpeg", 0.85);
}

function release(id) {
  page.frames.delete(id);
  if (page.inFlight === id) {
    page.inFlight = null;
    sendNext();
  }
}

// -- receiving --------------------------------------------------------------------------
async function onPicture(buffer) {
  const { header, jpeg } = unpack(buffer);
  const arrived = performance.now();
  if (header.kind === "view") {
    return draw($("view"), await createImageBitmap(jpeg));
  }
  const frame = page.frames.get(header.id);
  release(header.id);  // the next frame is captured while this one is decoded and drawn
  if (!frame) return;
  draw($("output"), await createImageBitmap(jpeg));
  const drawn = performance.now();
  page.drawn += 1;
  page.drawnAt.push(drawn);
  page.latencies.push(drawn - frame.captured);
  page.parts.push({
    encode: frame.sent - frame.captured,
    wait: header.wait_ms, rpc: header.rpc_ms, queue: header.queue_ms,
    inference: header.inference_ms, bridgeEncode: header.encode_ms,
    transport: arrived - frame.sent - header.bridge_ms, draw: drawn - arrived,
  });
  if (page.latencies.length > KEEP_SAMPLES) { page.latencies.shift(); page.parts.shift(); }
}

function draw(canvas, bitmap) {
  if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
}

function onMessage(message) {
  if (message.type === "models") {
    setModels(message.models, message.selected);
  } else if (message.type === "temporal") {
    setTemporal(message.level);
  } else if (message.type === "state") {
    page.serverState = message.state;
    page.serverMessage = message.message;
    refreshState();
  } else if (message.type === "health") {
    $("health").dataset.status = message.status;
    $("health").textContent = `server: ${message.status}`;
  } else if (message.type === "drop") {
    message.ids.forEach(release);
  }
}

function setModels(models, selected) {
  page.models = models;
  page.selected = selected;
  const picker = $("model");
  const options = models.map((m) => new Option(`${m.name} (${m.width}x${m.height})`, m.name));
  if (selected && !models.some((m) => m.name === selected)) {
    // A model the server no longer has stays shown (as gone), so that picking any other one
    // is a change the page hears.
    const gone = new Option(`${selected} (gone)`, selected);
    gone.disabled = true;
    options.unshift(gone);
  }
  if ([...picker.options].map((o) => o.text).join() !== options.map((o) => o.text).join()) {
    picker.replaceChildren(...options);
  }
  picker.value = selected;
  picker.disabled = models.length === 0;
  const model = currentModel();
  $("view-panel").hidden = !model || model.transform === "none";
  if (model) {
    $("view-name").textContent = model.transform;
    document.documentElement.style.setProperty("--compute-aspect", `${model.width} / ${model.height}`);
  }
  sendNext();
}

// The level the bridge says it uses; data-level changes only here, so it tells a choice made on
// the page (the select's value) from one the bridge has taken up.
function setTemporal(level) {
  const picker = $("temporal");
  picker.value = level;
  picker.dataset.level = level;
  picker.disabled = false;
}

// -- the socket -------------------------------------------------------------------------
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { page.serverState = "connecting"; refreshState(); };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") onMessage(JSON.parse(event.data));
    else onPicture(event.data);
  };
  ws.onclose = () => {
    if (page.ws !== ws) return;
    page.ws = null;
    page.inFlight = null;
    page.frames.clear();
    page.serverState = "bridge-lost";
    page.serverMessage = "";
    $("health").dataset.status = "UNKNOWN";
    $("health").textContent = "server: ?";
    refreshState();
    setTimeout(connect, 1000);
  };
  page.ws = ws;
}

$("model").addEventListener("change", (event) => {
  page.selected = event.target.value;
  if (page.ws && page.ws.readyState === 1) page.ws.send(JSON.stringify({ type: "model", name: page.selected }));
  setModels(page.models, page.selected);
});

$("temporal").addEventListener("change", (event) => {
  if (page.ws && page.ws.readyState === 1) page.ws.send(JSON.stringify({ type: "temporal", level: event.target.value }));
});

// -- recording: what the output canvas shows, in the browser (no server work) -------------
$("record").addEventListener("click", () => {
  const button = $("record");
  if (page.recorder) { page.recorder.stop(); return; }
  const chunks = [];
  const recorder = new MediaRecorder($("output").captureStream(30), { mimeType: "video/webm" });
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  recorder.onstop = () => {
    const link = $("download");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob(chunks, { type: "video/webm" }));
    link.download = `pix2pix-${new Date().toISOString().replace(/[:.]/g, "-")}.webm`;
    link.click();
    page.recorder = null;
    button.dataset.recording = "false";
    button.innerHTML = "&#9679; record";
  };
  recorder.start(250);
  page.recorder = recorder;
  button.dataset.recording = "true";
  button.textContent = "■ stop";
});

// -- numbers ----------------------------------------------------------------------------
function median(values) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function stats(windowSamples = 60) {
  const now = performance.now();
  while (page.drawnAt.length && page.drawnAt[0] < now - 1000) page.drawnAt.shift();
  const recent = page.parts.slice(-windowSamples);
  const part = (key) => median(recent.map((p) => p[key]));
  return {
    fps: page.drawnAt.length, drawn: page.drawn,
    p50: median(page.latencies.slice(-windowSamples)),
    parts: Object.fromEntries(Object.keys(recent[0] || {}).map((k) => [k, part(k)])),
  };
}

function showStats() {
  const s = stats();
  $("fps").textContent = `${s.fps} fps`;
  $("latency").textContent = Number.isNaN(s.p50) ? "latency –" : `latency ${s.p50.toFixed(0)} ms (p50)`;
  const p = s.parts;
  $("breakdown").textContent = p.rpc === undefined ? "" :
    `encode ${p.encode.toFixed(0)} · bridge ${p.wait.toFixed(0)} · gRPC ${p.rpc.toFixed(0)} ` +
    `(queue ${p.queue.toFixed(0)}, inference ${p.inference.toFixed(0)}) · ` +
    `bridge encode ${p.bridgeEncode.toFixed(0)} · network ${p.transport.toFixed(0)} · draw ${p.draw.toFixed(0)} ms`;
  $("record").disabled = !page.drawn;
}

// For tests and the curious: window.pix2pix.stats() and the latency samples so far.
window.pix2pix = { stats, samples: () => ({ latencies: [...page.latencies], parts: [...page.parts] }) };

setInterval(showStats, 250);
setInterval(() => {  // the watchdog: a frame lost on the way must not stall the page
  const frame = page.frames.get(page.inFlight);
  if (frame && performance.now() - frame.captured > WATCHDOG_MS) release(page.inFlight);
  sendNext();
}, 100);
connect();
startCamera();
