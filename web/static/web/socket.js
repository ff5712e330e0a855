// One websocket to /ws/ (docs/protocol.md) that keeps coming back.
// - Reconnects with exponential backoff and jitter (0.5 s doubling to 15 s); a new
//   connection resets it once the server says hello.
// - Treats the browser's offline event as a disconnect and its online event as "retry
//   now", so nothing is written into a socket that cannot deliver it.
// - A ping every 25 s; no pong within 10 s means the connection is dead (poor signal
//   often leaves sockets half-open), so it is closed and re-opened.
const PING_EVERY = 25000;
const PONG_WITHIN = 10000;

export class Socket {
  constructor({ onFrame, onState }) {
    this.onFrame = onFrame;
    this.onState = onState || (() => {});
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.ready = false;
  }

  start() {
    window.addEventListener("offline", () => this.drop("offline"));
    window.addEventListener("online", () => { this.attempt = 0; this.connectSoon(0); });
    if (navigator.onLine === false) this.onState("offline"); else this.connect();
  }

  url() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    return `${proto}://${location.host}/ws/`;
  }

  connect() {
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= 1) return;
    this.onState("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (f.type === "pong") { clearTimeout(this.pongTimer); return; }
      if (f.type === "hello") { this.attempt = 0; this.ready = true; this.heartbeat(); this.onState("online"); }
      this.onFrame(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ready = false;
      this.stopHeartbeat();
      if (ev.code === 4401) { this.onState("signed-out"); return; }
      if (navigator.onLine === false) { this.onState("offline"); return; }
      this.onState("reconnecting");
      const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      this.connectSoon(delay);
    };
  }

  connectSoon(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  drop(state) {
    this.ready = false;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onclose = null; try { ws.close(); } catch { /* already closed */ } }
    this.onState(state);
  }

  heartbeat() {
    this.stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        if (this.ws) this.ws.close();
      }, PONG_WITHIN);
    }, PING_EVERY);
  }

  stopHeartbeat() { clearInterval(this.pingTimer); clearTimeout(this.pongTimer); }

  // True when the frame was handed to an open socket (not a delivery guarantee: callers
  // keep anything that matters until the server acknowledges it).
  send(obj) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }
}

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

// A client id that is unique per device without needing a secure context.
export function newClientId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return "w" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export function timeOf(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}
