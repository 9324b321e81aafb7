// PitBox team dashboard: signs in with a pairing string, follows the relay's WebSocket, draws the car.
//
// Live data arrives over the relay's WebSocket (JSON control messages, binary telemetry batches
// decoded by batch.js); lap tables, lap traces and the track map are read from the dashboard's
// own /api. The page reconnects on its own, with backoff, and says when its data is stale.
// `window.pitbox` is the page's state (handy in the browser console, and for the browser tests).

import { decodeBatch } from "./batch.js";
import { CLASS_COLOURS, drawMap, drawTrace } from "./draw.js";

const STALE_MS = 3000;
const POLL_MS = 3000;
const RENDER_MS = 200;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;
const STORAGE_KEY = "pitbox.pairing";
const VIDEO_REFRESH_MS = 10000;
const MAX_VIDEOS = 20;
const MAX_ANNOUNCEMENTS = 200;
const H264 = 'video/mp4; codecs="avc1.42E01E"';
const MAX_TRACE_SAMPLES = 20000;
const FLAG_NAMES = [
  [0x0001, "chequered"], [0x0002, "white"], [0x0010, "red"], [0x0008, "yellow"], [0x0100, "yellow waving"],
  [0x4000, "caution"], [0x8000, "caution waving"], [0x0020, "blue"], [0x0040, "debris"], [0x010000, "black"],
  [0x100000, "meatball"], [0x0004, "green"],
];

const $ = (id) => document.getElementById(id);

const state = {
  role: null,
  name: null,
  config: null,
  channels: null,
  socket: null,
  authenticated: false,
  reconnectMs: RECONNECT_MIN_MS,
  reconnectTimer: null,
  connects: 0,
  cars: new Map(),
  selected: null,
  handoffs: new Map(),
  messages: new Map(),
  clips: new Map(),
  videos: new Map(),
  videoSupport: { h264: document.createElement("video").canPlayType(H264) },
  videoErrors: [],
  errors: [],
  batches: 0,
  decodeErrors: 0,
  mapDrawn: [],
  stale: true,
  status: "offline",
  nextId: 1,
  send,
};
window.pitbox = state;
let pairing = null;
let decoding = Promise.resolve();

// ---------------------------------------------------------------- pairing and sign-in

export function parsePairing(text) {
  const value = (text || "").trim();
  const match = /^pitbox(\+insecure)?:\/\/([^/?#]+)\/?\?(.+)$/i.exec(value);
  if (match) {
    const query = new URLSearchParams(match[3]);
    const token = query.get("t");
    if (!token) throw new Error("the pairing string has no token (t=...)");
    return { token, fingerprint: query.get("fp") || "", host: match[2], tls: !match[1] };
  }
  if (/^[A-Za-z0-9_-]{20,256}$/.test(value)) return { token: value, fingerprint: "", host: "", tls: true };
  throw new Error("that is not a PitBox pairing string: it starts with pitbox://");
}

function signIn(text) {
  let parsed;
  try {
    parsed = parsePairing(text);
  } catch (error) {
    $("sign-in-error").textContent = error.message;
    return false;
  }
  pairing = parsed;
  try {
    localStorage.setItem(STORAGE_KEY, text.trim());
  } catch {
    // private mode: stay signed in for this page only
  }
  $("sign-in-error").textContent = "";
  document.body.classList.remove("signed-out");
  connect();
  return true;
}

function signOut(message) {
  pairing = null;
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
  clearTimeout(state.reconnectTimer);
  if (state.socket) state.socket.close(1000, "signed out");
  state.socket = null;
  state.authenticated = false;
  state.role = state.name = null;
  document.body.classList.add("signed-out");
  document.body.classList.remove("engineer");
  $("toast").hidden = true;
  $("sign-in-error").textContent = message || "";
}

// ---------------------------------------------------------------- the relay's WebSocket

async function getJSON(path, authorised = false) {
  const headers = authorised && pairing ? { Authorization: `Bearer ${pairing.token}` } : {};
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 404) return null;
  if (response.status === 401) throw Object.assign(new Error(await response.text()), { unauthorised: true });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function connect() {
  clearTimeout(state.reconnectTimer);
  if (!pairing) return;
  try {
    state.config = await getJSON("/api/config");
    state.channels = state.channels || (await getJSON("/api/channels"));
  } catch {
    scheduleReconnect(); // the relay (and its dashboard server) is down: keep trying
    return;
  }
  const scheme = state.config.tls ? "wss" : "ws";
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  let socket;
  try {
    socket = new WebSocket(`${scheme}://${host}:${state.config.relay_port}/`);
  } catch {
    scheduleReconnect();
    return;
  }
  socket.binaryType = "arraybuffer";
  state.socket = socket;
  state.status = "connecting";
  socket.onmessage = (event) => {
    if (socket !== state.socket) return;
    if (typeof event.data === "string") onControl(event.data);
    else onBatch(event.data);
  };
  socket.onclose = (event) => {
    if (socket !== state.socket) return;
    state.socket = null;
    state.authenticated = false;
    if (!pairing) return;
    if (event.code === 4003) {
      signOut("The relay refused this pairing string (revoked, or too many failed sign-ins).");
      return;
    }
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  if (!pairing) return;
  state.status = "reconnecting";
  clearTimeout(state.reconnectTimer);
  const delay = state.reconnectMs * (0.75 + Math.random() * 0.5);
  state.reconnectMs = Math.min(RECONNECT_MAX_MS, state.reconnectMs * 2);
  state.reconnectTimer = setTimeout(connect, delay);
}

function send(type, data, id) {
  const messageId = id || `d${state.nextId++}`;
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
    toast("Not connected to the relay: try again in a moment.");
    return null;
  }
  state.socket.send(JSON.stringify({ type, id: messageId, data }));
  return messageId;
}

function car(carId) {
  let record = state.cars.get(carId);
  if (!record) {
    record = {
      carId, session: null, strategy: null, plan: null, live: null, others: new Map(), lastFrameAt: 0,
      trace: emptyTrace(), lastFrac: null, laps: null, best: null, segments: null, map: null, mapTrack: null,
    };
    state.cars.set(carId, record);
    if (state.selected === null) state.selected = carId;
    renderPicker();
  }
  return record;
}

function emptyTrace() {
  return { frac: [], speed_mps: [], throttle: [], brake: [] };
}

function onControl(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  const data = message.data || {};
  switch (message.type) {
    case "connection_established":
      send("authenticate", { token: pairing.token, client: "PitBox dashboard" }, "auth");
      break;
    case "authentication_result":
      if (!data.ok) {
        signOut(`Sign-in refused: ${data.error || "unknown token"}.`);
        return;
      }
      state.authenticated = true;
      state.connects += 1;
      state.role = data.role;
      state.name = data.name;
      state.reconnectMs = RECONNECT_MIN_MS;
      state.status = "live";
      document.body.classList.toggle("engineer", data.role === "engineer");
      $("who").textContent = `${data.name} · ${data.role}`;
      send("subscribe", { telemetry: true, codec: "deflate" }, "subscribe");
      poll();
      break;
    case "session_info":
      if (Number.isInteger(data.car_id)) {
        const record = car(data.car_id);
        if (record.session && record.session.track?.name !== data.session.track?.name) record.map = null;
        record.session = data.session;
        renderPicker();
      }
      break;
    case "strategy_update":
      if (Number.isInteger(data.car_id)) car(data.car_id).strategy = data.strategy;
      break;
    case "stint_plan":
      if (Number.isInteger(data.car_id)) car(data.car_id).plan = data;
      break;
    case "handoff_request":
      if (data.handoff_id) state.handoffs.set(data.handoff_id, data);
      break;
    case "team_message":
      if (data.message_id) state.messages.set(data.message_id, data);
      break;
    case "video_segment_ready":
      if (Number.isInteger(data.car_id) && data.segment_id) {
        const key = `${data.car_id}:${data.segment_id}`;
        state.clips.delete(key); // a re-upload counts as new
        state.clips.set(key, { ...data, announcedAt: performance.now() });
        if (state.clips.size > MAX_ANNOUNCEMENTS) state.clips.delete(state.clips.keys().next().value);
        car(data.car_id);
        refreshVideos(data.car_id);
      }
      break;
    case "error":
      state.errors.push({ code: data.code, message: data.message, ref: data.ref || "" });
      if (data.ref !== "subscribe") toast(`Relay: ${data.message}`);
      break;
    default:
      break; // acks, coaching for the driver, legacy JSON telemetry
  }
}

function onBatch(buffer) {
  // Decoding is asynchronous (inflate): chain it so batches apply in the order they came.
  decoding = decoding
    .then(() => decodeBatch(buffer, state.channels))
    .then(applyBatch)
    .catch((error) => {
      state.decodeErrors += 1;
      console.warn("telemetry batch not decoded:", error.message);
    });
}

function applyBatch(batch) {
  state.batches += 1;
  const known = state.cars.has(batch.carId);
  const record = car(batch.carId);
  if (!known && batch.carId === state.selected) poll();
  const n = batch.frameCount;
  const last = n - 1;
  const live = {};
  for (const [name, column] of Object.entries(batch.frame)) {
    live[name] = Array.isArray(column) ? column.map((c) => c[last]) : column[last];
  }
  record.live = live;
  record.lastFrameAt = performance.now();
  if (batch.cars.size) {
    record.others = new Map([...batch.cars].map(([idx, values]) => [idx, Object.fromEntries(
      Object.entries(values).map(([name, column]) => [name, column[last]]))]));
  }
  const { lap_dist_frac: frac, speed_mps: speed, throttle, brake } = batch.frame;
  if (!frac) return;
  for (let i = 0; i < n; i++) {
    const f = frac[i];
    if (!Number.isFinite(f)) continue;
    if (record.lastFrac !== null && f < record.lastFrac - 0.5) record.trace = emptyTrace(); // the line
    record.lastFrac = f;
    const t = record.trace;
    if (t.frac.length >= MAX_TRACE_SAMPLES) continue;
    t.frac.push(f);
    t.speed_mps.push(speed ? speed[i] : NaN);
    t.throttle.push(throttle ? throttle[i] : NaN);
    t.brake.push(brake ? brake[i] : NaN);
  }
}

// ---------------------------------------------------------------- polling the dashboard's /api

async function poll() {
  const record = state.cars.get(state.selected);
  if (!pairing || !state.authenticated || !record) return;
  const listed = state.videos.get(record.carId);
  if (!listed || listed.dirty || performance.now() - listed.fetchedAt > VIDEO_REFRESH_MS) refreshVideos(record.carId);
  const base = `/api/cars/${record.carId}`;
  try {
    const laps = await getJSON(`${base}/laps`, true);
    const changed = JSON.stringify(laps?.laps?.length) !== JSON.stringify(record.laps?.laps?.length);
    const bestChanged = laps?.best_lap !== record.laps?.best_lap;
    record.laps = laps;
    if (bestChanged || !record.best) record.best = await getJSON(`${base}/best-lap`, true);
    if (changed || !record.segments) record.segments = await getJSON(`${base}/segments`, true);
    const track = record.session?.track?.name || null;
    if (!record.map || record.mapTrack !== track || record.map.source !== "file") {
      const map = await getJSON(`${base}/track-map`, true);
      if (map) {
        record.map = map;
        record.mapTrack = track;
      }
    }
  } catch (error) {
    if (error.unauthorised) signOut("The relay no longer accepts this pairing string.");
  }
}

// ---------------------------------------------------------------- engineer actions

function requestHandoff(event) {
  event.preventDefault();
  if (state.selected === null) return;
  const id = send("handoff_request", {
    action: "request",
    car_id: state.selected,
    to_driver: $("handoff-to").value.trim(),
    reason: $("handoff-reason").value.trim(),
    urgency: $("handoff-urgency").value,
  });
  if (id) $("handoff-reason").value = "";
}

function sendMessage(event) {
  event.preventDefault();
  const text = $("message-text").value.trim();
  if (!text) return;
  if (send("team_message", { text, priority: $("message-priority").value, to: "all" })) $("message-text").value = "";
}

function approvePlan() {
  const record = state.cars.get(state.selected);
  if (!record?.plan) return;
  send("stint_plan", { car_id: record.carId, plan: record.plan.plan, approved: true });
}

function cancelHandoff(handoffId) {
  send("handoff_request", { action: "cancel", handoff_id: handoffId });
}

// ---------------------------------------------------------------- rendering

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 5000);
}

const fmt = {
  num: (v, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "–"),
  lap: (s) => {
    if (s === null || s === undefined || !Number.isFinite(s)) return "–";
    const m = Math.floor(s / 60);
    return m ? `${m}:${(s - m * 60).toFixed(3).padStart(6, "0")}` : s.toFixed(3);
  },
  delta: (s) => (s === null || s === undefined || !Number.isFinite(s) ? "–" : `${s >= 0 ? "+" : "−"}${Math.abs(s).toFixed(3)}`),
  gear: (g) => (!Number.isFinite(g) ? "–" : g < 0 ? "R" : g === 0 ? "N" : String(g)),
};

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

// Replace a table body's rows only when their content changed.
function fillRows(tbody, rows, rowClass) {
  const key = JSON.stringify(rows);
  if (tbody.dataset.key === key) return;
  tbody.dataset.key = key;
  tbody.replaceChildren(...rows.map((cells, i) => {
    const tr = document.createElement("tr");
    const cls = rowClass ? rowClass(i) : "";
    if (cls) tr.className = cls;
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    return tr;
  }));
}

function renderPicker() {
  const select = $("car-select");
  const ids = [...state.cars.keys()].sort((a, b) => a - b);
  const labels = ids.map((id) => {
    const session = state.cars.get(id).session;
    const who = session?.driver ? ` · ${session.driver}` : "";
    const number = playerEntry(session)?.car_number;
    return `Car ${id}${number ? ` #${number}` : ""}${who}`;
  });
  const key = JSON.stringify([ids, labels]);
  if (select.dataset.key !== key) {
    select.dataset.key = key;
    select.replaceChildren(...ids.map((id, i) => new Option(labels[i], String(id))));
  }
  if (state.selected !== null) select.value = String(state.selected);
}

function playerEntry(session) {
  if (!session) return null;
  return (session.drivers || []).find((d) => d.car_idx === session.player_car_idx) || null;
}

function classIndex(session) {
  const ids = (session?.classes || []).map((c) => c.id).sort((a, b) => a - b);
  return (classId) => Math.max(0, ids.indexOf(classId));
}

function renderStatus(record) {
  const now = performance.now();
  const age = record && record.lastFrameAt ? now - record.lastFrameAt : Infinity;
  const stale = !state.authenticated || age > STALE_MS;
  state.stale = stale;
  document.body.classList.toggle("stale", stale && document.body.classList.contains("signed-out") === false);
  let label = "live";
  if (!state.socket || !state.authenticated) label = state.status === "reconnecting" ? "reconnecting" : "offline";
  else if (age > STALE_MS) label = "stale";
  const badge = $("connection");
  badge.className = `badge ${label}`;
  badge.textContent = label === "stale" && Number.isFinite(age) ? `stale ${Math.round(age / 1000)} s` : label;
  const banner = $("stale-banner");
  if (pairing && stale) {
    const since = Number.isFinite(age) && age >= 1000 ? ` The newest data is ${Math.round(age / 1000)} s old.` : "";
    banner.textContent = !state.authenticated
      ? `Relay unreachable: reconnecting…${since}`
      : `No live data from car ${record ? record.carId : "–"}: the car is not sending.${since}`;
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function renderLive(record) {
  const live = record.live || {};
  const session = record.session;
  setText("driver-in-car", session?.driver ? `· ${session.driver}` : "");
  setText("speed", fmt.num(live.speed_mps * 3.6));
  setText("gear", fmt.gear(live.gear));
  setText("rpm", fmt.num(live.rpm));
  setText("position", live.position > 0 ? String(live.position) : "–");
  $("throttle").value = Number.isFinite(live.throttle) ? live.throttle : 0;
  $("brake").value = Number.isFinite(live.brake) ? live.brake : 0;
  const steer = Number.isFinite(live.steering_angle_rad) ? Math.max(-1, Math.min(1, live.steering_angle_rad / 4)) : 0;
  const bar = $("steering");
  bar.style.left = `${50 - Math.max(0, steer) * 50}%`;
  bar.style.width = `${Math.abs(steer) * 50}%`;
  const fuel = record.strategy?.fuel;
  setText("fuel", Number.isFinite(live.fuel_level_l) ? `${live.fuel_level_l.toFixed(1)} l` : "–");
  setText("fuel-laps", fuel ? fuel.laps_of_fuel_left.toFixed(1) : "–");
  setText("fuel-finish", fuel ? `${fuel.fuel_to_finish_l.toFixed(1)} l` : "–");
  setText("lap", Number.isFinite(live.lap) ? String(live.lap) : "–");
  const flags = FLAG_NAMES.filter(([bit]) => (live.session_flags || 0) & bit).map(([, name]) => name);
  setText("flags", flags.length ? flags.join(", ") : "none");
  const surface = live.track_surface === 1 ? "in the pit stall" : live.on_pit_road ? "on pit road" : "on track";
  setText("pit-road", `${surface}${live.pit_limiter ? " · limiter" : ""}`);
  setText("incidents", Number.isFinite(live.incident_count) ? `${live.incident_count}x` : "–");
  setText("stint-laps", record.laps ? `${record.laps.stint_laps} (stint ${record.laps.stint})` : "–");
  for (let k = 0; k < 4; k++) {
    setText(`tt${k}`, fmt.num(live.tyre_temp_c?.[k]));
    setText(`tw${k}`, Number.isFinite(live.tyre_wear_frac?.[k]) ? `${Math.round(live.tyre_wear_frac[k] * 100)}%` : "–");
    setText(`tp${k}`, fmt.num(live.tyre_pressure_kpa?.[k]));
  }
}

function leaderboardRows(record) {
  const session = record.session;
  const drivers = new Map((session?.drivers || []).map((d) => [d.car_idx, d]));
  const entries = [...record.others].map(([idx, v]) => ({ idx, ...v }));
  const progress = (e) => (e.lap_completed >= 0 ? e.lap_completed : Math.max(0, e.lap - 1)) + Math.max(0, e.lap_dist_frac);
  entries.sort((a, b) => (a.position > 0 ? a.position : 999) - (b.position > 0 ? b.position : 999) || progress(b) - progress(a));
  const leader = entries[0];
  // A car's lap time as the sim estimates it now: time from the line over the distance from the line.
  const lapTime = (e) => [e.best_lap_time_s, e.last_lap_time_s, e.lap_dist_frac > 0.05 ? e.est_time_s / e.lap_dist_frac : NaN]
    .find((t) => Number.isFinite(t) && t > 0);
  return entries.map((e) => {
    const d = drivers.get(e.idx);
    const behind = leader ? progress(leader) - progress(e) : 0;
    let gap = "–";
    if (e === leader) gap = "leader";
    else if (behind >= 1) gap = `+${Math.floor(behind)} L`;
    else if (Number.isFinite(e.est_time_s) && Number.isFinite(leader.est_time_s)) {
      // Same lap: the difference of the sim's time-from-line estimates; across the line: add a lap.
      const crossed = Math.floor(progress(leader)) > Math.floor(progress(e));
      const seconds = leader.est_time_s - e.est_time_s + (crossed ? lapTime(e) ?? NaN : 0);
      if (Number.isFinite(seconds)) gap = `+${Math.max(0, seconds).toFixed(1)}`;
    } else if (lapTime(leader)) gap = `+${(behind * lapTime(leader)).toFixed(1)}`;
    return {
      idx: e.idx,
      cells: [
        e.position > 0 ? String(e.position) : "–",
        d?.car_number ?? String(e.idx),
        d?.name ?? `car ${e.idx}`,
        d?.class ?? String(e.class_id),
        gap,
        fmt.lap(e.last_lap_time_s),
        fmt.lap(e.best_lap_time_s),
        e.on_pit_road ? "PIT" : "",
      ],
    };
  });
}

function renderBoard(record) {
  const rows = leaderboardRows(record);
  const team = record.session?.player_car_idx;
  fillRows($("leaderboard").tBodies[0], rows.map((r) => r.cells), (i) => (rows[i].idx === team ? "team" : ""));
}

function renderMap(record) {
  const session = record.session;
  setText("track-name", session?.track ? `· ${session.track.display_name || session.track.name}` : "");
  const canvas = $("map-canvas");
  const classOf = classIndex(session);
  const team = session?.player_car_idx;
  const cars = [...record.others].map(([idx, v]) => ({
    carIdx: idx, frac: v.lap_dist_frac, classIndex: classOf(v.class_id), team: idx === team, inPit: Boolean(v.on_pit_road),
  }));
  if (!record.others.has(team) && record.live && Number.isFinite(record.live.lap_dist_frac)) {
    cars.push({ carIdx: team ?? -1, frac: record.live.lap_dist_frac, classIndex: 0, team: true, inPit: Boolean(record.live.on_pit_road) });
  }
  const points = record.map?.points || null;
  state.mapDrawn = drawMap(canvas, points, cars, record.segments?.loss_s || null);
  const note = !points
    ? "Learning the track from the car's laps: the map appears after the first clean lap."
    : `Outline: ${{ file: "track file", gps: "GPS of the car's laps", dead_reckoning: "the car's laps (dead reckoning)" }[record.map.source] || record.map.source}` +
      (record.segments ? ` · heat: time lost on lap ${record.segments.lap} vs best lap ${record.segments.best_lap}` : "");
  setText("map-note", note);
  const legend = (session?.classes || []).map((c) => `${classOf(c.id)}:${c.name}`).join("|");
  const box = $("class-legend");
  if (box.dataset.key !== legend) {
    box.dataset.key = legend;
    box.replaceChildren(...(session?.classes || []).map((c) => {
      const span = document.createElement("span");
      const dot = document.createElement("i");
      dot.style.background = CLASS_COLOURS[classOf(c.id) % CLASS_COLOURS.length];
      span.append(dot, c.name);
      return span;
    }));
  }
}

function renderTiming(record) {
  const laps = record.laps;
  setText("best-lap", laps?.best_time_s ? `· best ${fmt.lap(laps.best_time_s)} (lap ${laps.best_lap})` : "");
  const rows = (laps?.laps || []).slice(-40).reverse();
  fillRows(
    $("lap-table").tBodies[0],
    rows.map((l) => [
      String(l.lap), fmt.lap(l.time_s), fmt.delta(l.delta_to_best_s), `${l.stint}/${l.stint_lap}`,
      Number.isFinite(l.fuel_used_l) ? `${l.fuel_used_l.toFixed(2)} l` : "–", l.position > 0 ? String(l.position) : "–",
      [l.kind !== "flying" ? l.kind : "", l.pit ? "pit" : "", l.incidents ? `${l.incidents}x` : ""].filter(Boolean).join(" "),
    ]),
    (i) => (rows[i].lap === laps.best_lap ? "best" : ""),
  );
  drawTrace($("trace-canvas"), record.trace, record.best);
}

function renderStrategy(record) {
  const strategy = record.strategy;
  const pit = strategy?.pit_window;
  const box = $("pit-window");
  const key = JSON.stringify(pit || null);
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    if (!pit) {
      box.replaceChildren(Object.assign(document.createElement("p"), { className: "note", textContent: "No pit call yet: it needs a few green laps and a race length." }));
    } else {
      const call = document.createElement("div");
      call.className = "call";
      const laps = pit.window_laps ? `laps ${pit.window_laps[0]}–${pit.window_laps[1]}` : "no stop needed";
      call.textContent = `${pit.strategy}: ${laps} · ${Math.round((pit.confidence || 0) * 100)}% confident`;
      const reasons = document.createElement("ul");
      reasons.append(...(pit.reasons || []).map((r) => Object.assign(document.createElement("li"), { textContent: r })));
      box.replaceChildren(call, reasons);
    }
  }
  const fuel = strategy?.fuel;
  const plan = $("fuel-plan");
  const items = fuel
    ? [
        ["Fuel per lap", `${fuel.fuel_per_lap_l.toFixed(2)} l`],
        ["Laps remaining", fuel.laps_remaining.toFixed(1)],
        ["Fuel to add", `${fuel.fuel_to_add_l.toFixed(1)} l`],
        ["Stops needed", String(fuel.stops_needed)],
        ["Save target", fuel.save_target_l_per_lap ? `${fuel.save_target_l_per_lap.toFixed(2)} l/lap` : "–"],
        ["Next lap", strategy.next_lap ? `${fmt.lap(strategy.next_lap.time_s)} ± ${strategy.next_lap.sd_s.toFixed(2)}` : "–"],
        ["Tyre age", `${strategy.tyre_age_laps} laps`],
      ]
    : [];
  const fuelKey = JSON.stringify(items);
  if (plan.dataset.key !== fuelKey) {
    plan.dataset.key = fuelKey;
    plan.replaceChildren(...items.flatMap(([k, v]) => [
      Object.assign(document.createElement("dt"), { textContent: k }),
      Object.assign(document.createElement("dd"), { textContent: v }),
    ]));
  }
  setText("monte-carlo", pit
    ? `Monte Carlo: mean race ${fmt.lap(pit.mean_s)}${Number.isFinite(pit.gain_vs_next_s) ? `, ${pit.gain_vs_next_s.toFixed(1)} s better than ${pit.next_best || "the next plan"}` : ""}.`
    : "");
  const stint = record.plan;
  const proposal = stint?.plan;
  setText("plan-status", stint ? (stint.approved ? "· approved" : "· proposed, not approved") : "· none yet");
  const laps = strategy?.laps_completed ?? proposal?.laps_done ?? 0;
  const next = (proposal?.handoffs || []).find((h) => h.lap > laps);
  setText("next-handoff", next ? `Next handoff: ${next.from_driver} → ${next.to_driver} at the end of lap ${next.lap} (${next.lap - laps} laps to go)` : proposal ? "No handoff left in the plan." : "");
  fillRows(
    $("stint-table").tBodies[0],
    (proposal?.stints || []).map((s) => [
      String(s.index + 1), s.driver, `${s.start_lap + 1}–${s.start_lap + s.laps}`, fmt.lap(s.end_s).replace(/\.\d+$/, ""),
      `${s.fuel_l.toFixed(0)} l`, s.new_tyres ? "new" : "used",
    ]),
    (i) => (proposal.stints[i].completed ? "done" : ""),
  );
  const approve = $("approve-plan");
  approve.disabled = !stint || stint.approved || state.role !== "engineer";
}

function renderTeam() {
  const list = $("handoffs");
  const handoffs = [...state.handoffs.values()].filter((h) => state.selected === null || h.car_id === state.selected).slice(-8).reverse();
  const key = JSON.stringify([handoffs, state.role]);
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    if (!handoffs.length) list.replaceChildren(Object.assign(document.createElement("li"), { className: "note", textContent: "No handoffs." }));
    else list.replaceChildren(...handoffs.map((h) => {
      const li = document.createElement("li");
      li.dataset.handoffId = h.handoff_id;
      const status = Object.assign(document.createElement("span"), { className: `status ${h.status}`, textContent: h.status });
      const text = document.createElement("span");
      text.textContent = ` ${h.from_driver || "?"} → ${h.to_driver}${h.reason ? ` · ${h.reason}` : ""}`;
      li.append(status, text);
      if (state.role === "engineer" && (h.status === "requested" || h.status === "accepted")) {
        const cancel = Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: "cancel" });
        cancel.addEventListener("click", () => cancelHandoff(h.handoff_id));
        li.append(" ", cancel);
      }
      return li;
    }));
  }
  const messages = [...state.messages.values()].slice(-20).reverse();
  const box = $("messages");
  const messagesKey = JSON.stringify(messages);
  if (box.dataset.key !== messagesKey) {
    box.dataset.key = messagesKey;
    if (!messages.length) box.replaceChildren(Object.assign(document.createElement("li"), { className: "note", textContent: "No team messages." }));
    else box.replaceChildren(...messages.map((m) => {
      const li = document.createElement("li");
      li.className = `priority-${m.priority}`;
      const read = (m.read_by || []).length ? ` · read by ${m.read_by.join(", ")}` : "";
      li.textContent = `${m.from}: ${m.text}${read}`;
      return li;
    }));
  }
  const record = state.cars.get(state.selected);
  const names = new Set([...(record?.plan?.plan?.drivers || [])]);
  const teamId = playerEntry(record?.session)?.team_id;
  for (const d of record?.session?.drivers || []) if (teamId !== undefined && d.team_id === teamId) names.add(d.name);
  const datalist = $("driver-names");
  const namesKey = [...names].join("|");
  if (datalist.dataset.key !== namesKey) {
    datalist.dataset.key = namesKey;
    datalist.replaceChildren(...[...names].map((n) => new Option(n)));
  }
}

// ---------------------------------------------------------------- video

// The relay lists a car's stored videos with short-lived signed links (a <video> cannot send the
// bearer token); announcements (video_segment_ready) only say that the list changed.
async function refreshVideos(carId) {
  if (!pairing || !state.authenticated || !Number.isInteger(carId)) return;
  let entry = state.videos.get(carId);
  if (!entry) {
    entry = { items: [], fetchedAt: 0, dirty: false, loading: false, error: null };
    state.videos.set(carId, entry);
  }
  if (entry.loading) {
    entry.dirty = true; // once this fetch is done
    return;
  }
  entry.loading = true;
  entry.dirty = false;
  const asked = performance.now();
  try {
    const listing = await getJSON(`/api/cars/${carId}/video`, true);
    entry.items = listing?.items || [];
    entry.fetchedAt = asked;
    entry.error = null;
  } catch (error) {
    entry.error = error.message;
    if (error.unauthorised) signOut("The relay no longer accepts this pairing string.");
  } finally {
    entry.loading = false;
  }
  if (entry.dirty) refreshVideos(carId);
}

function videoItems(carId) {
  const listed = state.videos.get(carId);
  const items = (listed?.items || []).map((item) => ({ ...item, pending: false }));
  const known = new Set(items.map((i) => i.segment_id));
  // Announced after the last listing: on its way (an older announcement not listed any more was rotated out).
  const waiting = [...state.clips.values()]
    .filter((c) => c.car_id === carId && !known.has(c.segment_id) && c.announcedAt >= (listed?.fetchedAt || 0))
    .reverse()
    .map((c) => ({ ...c, pending: true }));
  return [...waiting, ...items].slice(0, MAX_VIDEOS);
}

const fmtBytes = (n) => (!Number.isFinite(n) ? "–" : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`);

function videoElement(li, item) {
  const video = document.createElement("video");
  video.controls = true;
  video.preload = "metadata";
  video.playsInline = true;
  video.addEventListener("error", () => {
    // An expired link or a restarted relay: ask for fresh links, then resume where it was.
    const code = video.error ? video.error.code : 0;
    state.videoErrors.push({ segmentId: item.segment_id, code, src: video.dataset.src });
    li.dataset.failed = video.dataset.src || "";
    li.dataset.resumeAt = String(video.currentTime || 0);
    refreshVideos(item.car_id);
  });
  video.addEventListener("loadedmetadata", () => {
    const at = Number(li.dataset.resumeAt || 0);
    if (at > 0 && at < video.duration) video.currentTime = at;
    li.dataset.resumeAt = "";
  });
  return video;
}

// Set a property only when it changes (the panel is rendered five times a second).
function assign(el, name, value) {
  if (el[name] !== value) el[name] = value;
}

function updateVideoItem(li, item) {
  const span = `${fmt.lap(item.start_s)}–${fmt.lap(item.end_s)}`;
  const seconds = Number.isFinite(item.end_s - item.start_s) ? ` (${Math.round(item.end_s - item.start_s)} s)` : "";
  const kind = item.kind === "clip" ? "clip" : "segment";
  assign(li.querySelector(".kind"), "textContent", kind);
  assign(li.querySelector(".kind"), "className", `kind ${kind}`);
  assign(li.querySelector(".window"), "textContent", `${span}${seconds}`);
  assign(li.querySelector(".size"), "textContent", fmtBytes(item.bytes));
  assign(li.querySelector(".name"), "textContent", item.segment_id);
  const note = li.querySelector(".note");
  const playable = Boolean(state.videoSupport.h264);
  let text = "";
  if (item.pending) text = "Stored on the relay: getting its link…";
  else if (!playable) text = "This browser cannot play H.264 video: download it to watch.";
  assign(note, "textContent", text);
  assign(note, "hidden", !text);
  let video = li.querySelector("video");
  if (!item.pending && playable && item.play_url) {
    if (!video) {
      video = videoElement(li, item);
      li.insertBefore(video, li.querySelector(".video-links"));
    }
    if (!video.dataset.src || (li.dataset.failed && li.dataset.failed !== item.play_url)) {
      li.dataset.failed = "";
      video.dataset.src = item.play_url;
      video.src = item.play_url;
    }
  }
  // Links are fetched when clicked: the newest listing's (always valid) will do.
  const download = li.querySelector("a.download");
  assign(download, "hidden", item.pending || !item.play_url);
  if (item.play_url && download.getAttribute("href") !== item.play_url) download.setAttribute("href", item.play_url);
  const telemetry = li.querySelector("a.telemetry");
  assign(telemetry, "hidden", !item.telemetry_url);
  if (item.telemetry_url && telemetry.getAttribute("href") !== item.telemetry_url) {
    telemetry.setAttribute("href", item.telemetry_url);
  }
}

function newVideoItem(item) {
  const li = document.createElement("li");
  li.className = "video-item";
  li.dataset.segmentId = item.segment_id;
  li.dataset.videoKey = `${item.car_id}:${item.segment_id}`;
  const head = document.createElement("div");
  head.className = "video-head";
  for (const cls of ["kind", "window", "size", "name"]) head.append(Object.assign(document.createElement("span"), { className: cls }));
  const links = document.createElement("div");
  links.className = "video-links";
  const download = Object.assign(document.createElement("a"), { className: "download", textContent: "Download video" });
  download.download = `car${item.car_id}-${item.segment_id}.mp4`;
  const telemetry = Object.assign(document.createElement("a"), { className: "telemetry", textContent: "Telemetry (JSON)" });
  telemetry.download = `car${item.car_id}-${item.segment_id}.telemetry.json`;
  links.append(download, telemetry);
  li.append(head, Object.assign(document.createElement("p"), { className: "note" }), links);
  return li;
}

function renderClips() {
  const box = $("clips");
  const carId = state.selected;
  const items = carId === null ? [] : videoItems(carId);
  setText("video-car", carId === null ? "" : `· car ${carId}`);
  if (!items.length) {
    const text = state.videos.get(carId)?.error ? `Videos not available: ${state.videos.get(carId).error}` : "No video yet.";
    if (box.dataset.key !== text) {
      box.dataset.key = text;
      box.replaceChildren(Object.assign(document.createElement("li"), { className: "note", textContent: text }));
    }
    return;
  }
  box.dataset.key = "";
  const existing = new Map([...box.children].filter((li) => li.dataset.videoKey).map((li) => [li.dataset.videoKey, li]));
  const wanted = items.map((item) => {
    const key = `${item.car_id}:${item.segment_id}`;
    const li = existing.get(key) || newVideoItem(item);
    existing.delete(key);
    updateVideoItem(li, item);
    return li;
  });
  for (const child of [...box.children]) if (!child.dataset.videoKey || existing.has(child.dataset.videoKey)) child.remove();
  // Insert in order without moving a node that is already in place (moving a <video> pauses it).
  wanted.forEach((li, i) => {
    if (box.children[i] !== li) box.insertBefore(li, box.children[i] || null);
  });
}

function render() {
  const record = state.cars.get(state.selected) || null;
  renderStatus(record);
  if (!pairing) return;
  renderTeam();
  renderClips();
  if (!record) return;
  renderLive(record);
  renderBoard(record);
  renderMap(record);
  renderTiming(record);
  renderStrategy(record);
}

// ---------------------------------------------------------------- start

function start() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("pairing").value);
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("car-select").addEventListener("change", (event) => {
    state.selected = Number(event.target.value);
    poll();
  });
  $("handoff-form").addEventListener("submit", requestHandoff);
  $("message-form").addEventListener("submit", sendMessage);
  $("approve-plan").addEventListener("click", approvePlan);
  setInterval(render, RENDER_MS);
  setInterval(poll, POLL_MS);
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("pair");
  if (fromLink) history.replaceState(null, "", location.pathname); // keep the token out of the address bar
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null;
  }
  const text = fromLink || stored;
  if (text) {
    $("pairing").value = "";
    signIn(text);
  }
  render();
}

start();
