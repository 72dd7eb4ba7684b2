// A websocket that reconnects by itself, answers requests by reference, and tells its owner
// when to re-sync from the database. Shared by the operator console and the live-chat widget.
//
// Nothing relies on the socket keeping a message: after every (re)connect, and after the
// tab woke up from a long stall, `onResync` runs and the owner fetches what it missed.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
// The server's "not allowed" close code (channels_app/web.py CLOSE_NOT_ALLOWED).
const CLOSE_NOT_ALLOWED = 4403;

export class LiveSocket {
  /**
   * @param {string} url absolute ws:// or wss:// URL
   * @param {object} handlers onEvent(frame), onResync(), onState("connecting"|"open"|"closed"), heartbeat() -> payload
   */
  constructor(url, { onEvent, onResync, onState, heartbeat, heartbeatMs = 25000, texts = {} }) {
    // The owner passes these in its language (the console from Django's catalog, the widget from its texts).
    this.texts = {
      notConnected: "Not connected. Reconnecting…",
      noAnswer: "The server did not answer in time.",
      connectionLost: "The connection was lost before the server answered.",
      ...texts,
    };
    this.url = url;
    this.onEvent = onEvent || (() => {});
    this.onResync = onResync || (() => {});
    this.onState = onState || (() => {});
    this.heartbeat = heartbeat || (() => ({}));
    this.heartbeatMs = heartbeatMs;
    this.ws = null;
    this.attempt = 0;
    this.nextRef = 1;
    this.pending = new Map();
    this.lastFrameAt = Date.now();
    this.lastTickAt = Date.now();
    this.stopped = false;
    this.reconnectTimer = null;

    this.ticker = setInterval(() => this.tick(), Math.min(5000, this.heartbeatMs));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.wake();
    });
    window.addEventListener("online", () => this.wake());
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    this.onState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.lastFrameAt = Date.now();
      this.onState("open");
      this.send("heartbeat", { ...this.heartbeat(), active: true });
      this.onResync();
    });
    ws.addEventListener("message", (message) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.ref !== undefined && this.pending.has(frame.ref)) {
        const { resolve, reject, timer } = this.pending.get(frame.ref);
        clearTimeout(timer);
        this.pending.delete(frame.ref);
        if (frame.type === "error") reject(Object.assign(new Error(frame.message), { frame }));
        else resolve(frame);
        return;
      }
      if (frame.type === "pong") return;
      this.onEvent(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === CLOSE_NOT_ALLOWED) {
        // The server no longer lets this person in (signed out, dismissed, no longer an operator): retrying
        // cannot help; the page decides what to show.
        this.stopped = true;
        this.failPending(this.texts.connectionLost);
        this.onState("refused");
        return;
      }
      this.failPending(this.texts.connectionLost);
      this.onState("closed");
      if (!this.stopped) this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    // Jitter spreads the reconnects of many tabs after a server restart.
    this.reconnectTimer = setTimeout(() => this.connect(), base + Math.random() * 300);
  }

  /** Reconnect at once (tab visible again, network back), or re-sync when still connected. */
  wake() {
    if (this.stopped) return;
    if (this.isOpen) this.onResync();
    else this.connect();
  }

  /** Drop the connection as a network failure would (used on stalls, and by tests). */
  drop() {
    if (this.ws) this.ws.close();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.reconnectTimer);
    if (this.ws) this.ws.close();
  }

  tick() {
    const now = Date.now();
    const stalled = now - this.lastTickAt > this.heartbeatMs * 2;
    this.lastTickAt = now;
    if (stalled) {
      // Timers were frozen (sleeping laptop, throttled tab): frames may have been missed.
      if (this.isOpen) this.onResync();
      else this.connect();
      return;
    }
    if (!this.isOpen) return;
    if (now - this.lastFrameAt > this.heartbeatMs * 2 + 10000) {
      this.drop(); // no pong for too long: the socket is dead even if the browser has not noticed
      return;
    }
    if (now - (this.lastHeartbeatAt || 0) >= this.heartbeatMs) {
      this.lastHeartbeatAt = now;
      this.send("heartbeat", this.heartbeat());
    }
  }

  send(action, payload = {}) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify({ action, ...payload }));
    return true;
  }

  /** Send an action and wait for its `ack` (resolves) or `error` (rejects) frame. */
  request(action, payload = {}, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) {
        reject(new Error(this.texts.notConnected));
        return;
      }
      const ref = this.nextRef++;
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error(this.texts.noAnswer));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ action, ref, ...payload }));
    });
  }

  failPending(message) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(Object.assign(new Error(message), { connectionLost: true }));
    }
    this.pending.clear();
  }
}

export function websocketUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

/** Build an element; string children become text nodes, so message text can never become markup. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Dates and times in the page's language with a 24-hour clock: formats.js holds them; re-exported for the
// modules (and the widget) that import them from here.
export { formatClock, formatTime } from "./formats.js";

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}
