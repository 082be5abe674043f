// omni's browser page: a client of omni's own Realtime API (/v1/realtime, the OpenAI GA events),
// with omni's extra events (omni_events=1) for the live partial transcript and the latency bars.
// Plain JavaScript, no build step, nothing fetched from anywhere but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const RATE = 24000;
const state = {
  ws: null, ctx: null, mic: null, capture: null, player: null,
  muted: false, ptt: false, talking: false,
  played: 0, queued: 0,          // from the player: 24 kHz samples heard so far, and still queued
  item: null, itemStart: 0, itemPushed: 0,   // the assistant item playing: where it starts, how much was pushed
  bubbles: {}, partial: null, holding: false, resumeTimer: null,
};

function status(text) { $("status").textContent = text; }

function bubble(id, cls, text) {
  let el = state.bubbles[id];
  if (!el) {
    el = document.createElement("div");
    el.className = "msg " + cls;
    el.dataset.item = id;
    $("log").appendChild(el);
    state.bubbles[id] = el;
  }
  if (text !== undefined) el.textContent = text;
  el.scrollIntoView({ block: "end" });
  return el;
}

function send(event) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(event));
}

function b64(int16) {
  const bytes = new Uint8Array(int16.buffer);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function pcm16(float32) {
  const out = new Int16Array(float32.length);
  for (let i = 0; i < float32.length; i++) out[i] = Math.max(-1, Math.min(1, float32[i])) * 32767;
  return out;
}

function fromB64(s) {
  const bin = atob(s), n = bin.length >> 1, out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
    if (v >= 0x8000) v -= 0x10000;
    out[i] = v / 32768;
  }
  return out;
}

// --- audio ---------------------------------------------------------------------------------
async function startAudio() {
  state.ctx = new AudioContext();
  await state.ctx.audioWorklet.addModule("/static/worklets.js");
  state.mic = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
  });
  const source = state.ctx.createMediaStreamSource(state.mic);
  state.capture = new AudioWorkletNode(state.ctx, "capture");
  state.capture.port.onmessage = (e) => {
    if (state.muted || (state.ptt && !state.talking)) return;
    send({ type: "input_audio_buffer.append", audio: b64(pcm16(e.data)) });
  };
  source.connect(state.capture);
  state.player = new AudioWorkletNode(state.ctx, "player", { outputChannelCount: [1] });
  state.player.port.onmessage = (e) => { state.played = e.data.played; state.queued = e.data.queued; };
  state.player.connect(state.ctx.destination);
}

function heardMs() {  // of the assistant item playing now: what has actually come out of the speaker
  if (!state.item) return 0;
  const heard = Math.min(state.played - state.itemStart, state.itemPushed);
  return Math.max(0, Math.round(heard * 1000 / RATE));
}

function pause() {
  if (state.queued > 0 && !state.holding) { state.holding = true; state.player.port.postMessage({ type: "pause" }); }
}
function resume() {
  clearTimeout(state.resumeTimer);
  if (state.holding) { state.holding = false; state.player.port.postMessage({ type: "resume" }); }
}
function stopPlaying(truncate) {  // the reply is over for the user: drop what is queued, say what was heard
  clearTimeout(state.resumeTimer);
  const item = state.item, ms = heardMs(), unheard = state.queued > 0;
  state.player.port.postMessage({ type: "clear" });
  state.holding = false;
  if (truncate && item && unheard) {
    send({ type: "conversation.item.truncate", item_id: item, content_index: 0, audio_end_ms: ms });
    const el = state.bubbles[item];
    if (el) el.classList.add("cut");
  }
}

// --- what the server says ------------------------------------------------------------------
const handlers = {
  "session.created": (e) => { status("listening (" + e.session.model + ")"); },
  "error": (e) => { console.warn("omni:", e.error.message); status("error: " + e.error.message); },
  "input_audio_buffer.speech_started": () => {
    // the user talks over the reply: hold it at once; the server decides whether it was "mhm"
    pause();
    clearTimeout(state.resumeTimer);
  },
  "input_audio_buffer.speech_stopped": () => {
    clearTimeout(state.resumeTimer);
    state.resumeTimer = setTimeout(resume, 1500);  // no turn came of it (noise): play on
  },
  "input_audio_buffer.committed": (e) => { clearTimeout(state.resumeTimer); bubble(e.item_id, "user partial", "…"); },
  "omni.partial_transcript": (e) => { bubble(e.item_id, "user partial", e.text); },
  "conversation.item.input_audio_transcription.completed": (e) => {
    const el = bubble(e.item_id, "user", e.transcript || "(nothing heard)");
    el.classList.remove("partial");
    resume();  // a turn of its own, or a backchannel: if the reply was cut, response.done says so
  },
  "conversation.item.added": (e) => {
    const it = e.item;
    if (it.type === "message" && it.role === "user" && it.content[0] && it.content[0].type === "input_text")
      bubble(it.id, "user", it.content[0].text);
  },
  "response.output_item.added": (e) => {
    if (e.item.type !== "message") return;
    stopPlaying(false);  // a new reply: nothing of an older one plays on
    state.item = e.item.id; state.itemStart = state.played + state.queued; state.itemPushed = 0;
    bubble(e.item.id, "assistant", "");
  },
  "response.output_audio_transcript.delta": (e) => { const el = bubble(e.item_id, "assistant"); el.textContent += e.delta; },
  "response.output_text.delta": (e) => { const el = bubble(e.item_id, "assistant"); el.textContent += e.delta; },
  "response.output_audio.delta": (e) => {
    const samples = fromB64(e.delta);
    if (e.item_id === state.item) state.itemPushed += samples.length;
    state.player.port.postMessage({ type: "push", samples }, [samples.buffer]);
  },
  "response.output_item.done": (e) => {
    if (e.item.type === "function_call") bubble(e.item.id, "assistant", "⚙ " + e.item.name + " " + e.item.arguments);
  },
  "response.done": (e) => {
    if (e.response.status === "cancelled") stopPlaying(true);  // cut: the history keeps what was heard
  },
  "omni.turn": (e) => { bars(e); },
  "omni.session": (e) => { if (e.camera) startCamera(e.camera.fps, e.camera.max_side); },
  "omni.scene": (e) => {
    state.scene = { caption: e.caption, at: performance.now() / 1000 - e.age_s };
    showScene();
  },
};

// --- the camera (a pipeline that looks: the AR glasses) -------------------------------------
async function startCamera(fps, maxSide) {
  if (state.camera) return;
  try {
    state.camera = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (err) {
    $("scene").textContent = "no camera: " + err.message;
    $("camera").style.display = "block";
    return;
  }
  const video = $("preview"), canvas = document.createElement("canvas");
  video.srcObject = state.camera;
  $("camera").style.display = "block";
  const send1 = () => {  // one picture, at most maxSide (the server scales larger ones anyway)
    if (!video.videoWidth || !state.ws || state.ws.readyState !== WebSocket.OPEN) return;
    const f = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * f);
    canvas.height = Math.round(video.videoHeight * f);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    const jpeg = canvas.toDataURL("image/jpeg", 0.8);
    send({ type: "omni.camera.frame", image: jpeg.slice(jpeg.indexOf(",") + 1) });
    state.framesSent = (state.framesSent || 0) + 1;
  };
  state.cameraTimer = setInterval(send1, 1000 / fps);  // the pipeline's own sampling rate
  setInterval(showScene, 1000);
}

function showScene() {
  if (!state.scene) return;
  const age = performance.now() / 1000 - state.scene.at;
  $("scene").textContent = "sees: " + state.scene.caption + " (" + age.toFixed(0) + " s ago)";
}

function bars(e) {
  const box = document.createElement("div");
  box.className = "bars";
  const rows = Object.entries(e.stages).map(([name, s]) => [name, s.ms, s.budget_ms]);
  if (e.v2v_ms != null) rows.push(["voice to voice", e.v2v_ms, e.v2v_budget_ms]);
  const top = Math.max(...rows.map(([, ms, b]) => Math.max(ms, b || 0)), 1);
  for (const [name, ms, budget] of rows) {
    const row = document.createElement("div");
    row.className = "bar";
    const over = budget != null && ms > budget;
    row.innerHTML = "<span></span><span><i></i></span><span></span>";
    row.children[0].textContent = name;
    row.querySelector("i").style.width = (100 * ms / top).toFixed(1) + "%";
    if (over) row.querySelector("i").classList.add("over");
    row.children[2].textContent = Math.round(ms) + (budget != null ? " / " + Math.round(budget) : "") + " ms";
    row.title = over ? "over its budget" : "within its budget";
    box.appendChild(row);
  }
  $("log").appendChild(box);
  box.scrollIntoView({ block: "end" });
}

// --- connecting ------------------------------------------------------------------------------
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/realtime?model=omni&omni_events=1";
  const token = $("token-input").value.trim();
  const ws = new WebSocket(url, token ? ["realtime", "openai-insecure-api-key." + token] : ["realtime"]);
  state.ws = ws;
  status("connecting…");
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    const h = handlers[e.type];
    if (h) h(e);
  };
  ws.onclose = (c) => {
    status(c.code === 1013 ? "busy: the server has all the sessions it takes; try again later"
      : c.code === 1006 && !state.everOpen ? "refused: a token may be needed" : "disconnected");
    if (c.code === 1006 && !state.everOpen) $("token").style.display = "block";
    for (const b of ["mute", "ptt-mode", "talk"]) $(b).disabled = true;
    $("connect").textContent = "Start";
    $("connect").disabled = false;
  };
  ws.onopen = () => {
    state.everOpen = true;
    for (const b of ["mute", "ptt-mode"]) $(b).disabled = false;
    $("connect").textContent = "Stop";
  };
}

$("connect").onclick = async () => {
  if (state.ws && state.ws.readyState <= WebSocket.OPEN) { state.ws.close(); return; }
  $("connect").disabled = true;
  try {
    if (!state.ctx) await startAudio();
    await state.ctx.resume();
    connect();
    $("connect").disabled = false;
  } catch (err) {
    status("no microphone: " + err.message);
    $("connect").disabled = false;
  }
};

$("mute").onclick = () => {
  state.muted = !state.muted;
  $("mute").setAttribute("aria-pressed", String(state.muted));
  $("mute").textContent = state.muted ? "Unmute mic" : "Mute mic";
};

$("ptt-mode").onclick = () => {  // push to talk: the client ends each turn (turn detection off)
  state.ptt = !state.ptt;
  $("ptt-mode").setAttribute("aria-pressed", String(state.ptt));
  $("talk").disabled = !state.ptt;
  send({ type: "session.update", session: { type: "realtime", audio: { input: {
    turn_detection: state.ptt ? null : { type: "semantic_vad", eagerness: "auto" } } } } });
};

function talk(on) {
  if (!state.ptt || state.talking === on) return;
  state.talking = on;
  $("talk").setAttribute("aria-pressed", String(on));
  if (on && state.queued > 0) { stopPlaying(true); send({ type: "response.cancel" }); }
  if (!on) send({ type: "input_audio_buffer.commit" });
}
$("talk").onpointerdown = () => talk(true);
$("talk").onpointerup = $("talk").onpointerleave = () => talk(false);
addEventListener("keydown", (e) => { if (e.code === "Space" && !e.repeat && state.ptt) { e.preventDefault(); talk(true); } });
addEventListener("keyup", (e) => { if (e.code === "Space" && state.ptt) { e.preventDefault(); talk(false); } });
