// Installable app: registers the service worker (/sw.js, whole-site scope) and applies
// updates cleanly. A new version installs in the background and waits; it takes over
// when the person reloads or leaves the page (never under a page that is running), or at
// once when they press "Update" on the banner.
// On sign-out, the pages and messages kept for offline use are deleted first, so the next
// person on a shared phone finds nothing; the sign-in page clears them too.
import { forgetAll } from "./offline-store.js";

async function register() {
  if (!("serviceWorker" in navigator)) return;
  let reg;
  try {
    reg = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch {
    return; // e.g. not a secure context: the site still works, just not offline
  }
  const offer = (worker) => {
    if (!worker || !navigator.serviceWorker.controller) return; // first install: nothing to replace
    const bar = document.getElementById("update-bar");
    if (bar) {
      bar.hidden = false;
      bar.querySelector("button").onclick = () => worker.postMessage({ type: "skip-waiting" });
    }
    // Leaving or reloading the page is the safe moment for the new version to take over.
    addEventListener("pagehide", () => worker.postMessage({ type: "skip-waiting" }), { once: true });
  };
  if (reg.waiting) offer(reg.waiting);
  reg.addEventListener("updatefound", () => {
    const w = reg.installing;
    if (!w) return;
    w.addEventListener("statechange", () => { if (w.state === "installed") offer(w); });
  });
  let reloaded = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // Only after the person asked (the banner): a fresh page under the new version.
    if (document.documentElement.dataset.updating && !reloaded) { reloaded = true; location.reload(); }
  });
  const bar = document.getElementById("update-bar");
  if (bar) bar.querySelector("button").addEventListener("click", () => { document.documentElement.dataset.updating = "1"; });
}

async function forgetOffline() {
  try {
    for (const key of await caches.keys()) if (key.startsWith("cocare-pages-")) await caches.delete(key);
  } catch { /* no Cache API */ }
  await forgetAll();
}

for (const form of document.querySelectorAll("form.signout")) {
  form.addEventListener("submit", (e) => {
    if (form.dataset.cleared) return;
    e.preventDefault();
    forgetOffline().finally(() => { form.dataset.cleared = "1"; form.submit(); });
  });
}

// Whoever signs in next on this phone (a session that expired was never signed out) must
// not find the last person's pages offline: the sign-in and invitation pages clear them.
if (/^\/(?:login|invite)\//.test(location.pathname)) forgetOffline();

register();
