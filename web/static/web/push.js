// "Notifications on this phone" (the settings page, web/templates/web/notifications.html).
//
// Turning on: ask the browser's permission, get an FCM registration token with the
// Firebase JS SDK (served from /static/firebase/, vendored from npm) bound to our own
// service worker (/sw.js shows the notification and opens the room on a tap), and
// register it through the device API (POST /api/push-devices, idempotent on the token).
// Turning off: DELETE /api/push-devices/<id>. The device id is remembered per person on
// this phone. With no Firebase configuration the server renders "not set up" and this
// script does nothing.
import { csrfToken } from "./socket.js";
import { _, fmt } from "./i18n.js";

const cfgEl = document.getElementById("push-config");
const cfg = cfgEl ? JSON.parse(cfgEl.textContent) : null;
const $ = (id) => document.getElementById(id);
const KEY = cfg ? `cocare.pushdevice.${cfg.me}` : "";

function say(text) { $("push-status").textContent = text; }

function show() {
  const on = !!localStorage.getItem(KEY);
  $("push-on").hidden = on;
  $("push-off").hidden = !on;
  if (!("Notification" in window) || !("serviceWorker" in navigator)) {
    say(_("This browser cannot show notifications."));
    $("push-on").hidden = true;
  } else if (Notification.permission === "denied") {
    say(_("Notifications are blocked for CoCare in this browser's settings."));
  } else {
    say(on ? _("Notifications are on for this phone.") : _("Notifications are off for this phone."));
  }
}

async function token() {
  const { initializeApp } = await import("/static/firebase/firebase-app.js");
  const { getMessaging, getToken } = await import("/static/firebase/firebase-messaging.js");
  const app = initializeApp(cfg.firebase, "cocare");
  const reg = await navigator.serviceWorker.ready;
  return getToken(getMessaging(app), { vapidKey: cfg.vapid_key, serviceWorkerRegistration: reg });
}

async function turnOn() {
  $("push-on").disabled = true;
  try {
    if ((await Notification.requestPermission()) !== "granted") { show(); return; }
    say(_("Setting up…"));
    // The browser's push service may never answer (no signal): give up after 20 s.
    const t = await Promise.race([token(), new Promise((_, no) => setTimeout(() => no(new Error("timeout")), 20000))]);
    const r = await fetch("/api/push-devices", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ token: t, platform: "web" }),
    });
    const out = await r.json().catch(() => ({}));
    if (!r.ok) { say(fmt(_("Could not turn on notifications: %(why)s"), { why: out.message || r.status })); return; }
    localStorage.setItem(KEY, String(out.id));
    show();
  } catch (err) {
    // The error's name and code only (e.g. "messaging/token-subscribe-failed").
    console.warn("push registration failed:", err && (err.code || err.name), err && err.message);
    say(_("Could not reach the notification service. Try again when you have signal."));
  } finally {
    $("push-on").disabled = false;
  }
}

async function turnOff() {
  const id = localStorage.getItem(KEY);
  if (!id) { show(); return; }
  const r = await fetch(`/api/push-devices/${encodeURIComponent(id)}`, {
    method: "DELETE", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
  }).catch(() => null);
  if (r && (r.ok || r.status === 404)) { localStorage.removeItem(KEY); show(); }
  else say(_("Could not turn notifications off: try again when you have signal."));
}

if (cfg && cfg.configured) {
  $("push-on").addEventListener("click", turnOn);
  $("push-off").addEventListener("click", turnOff);
  show();
}
