// CoCare's service worker (served at /sw.js by web/pwa.py, which prepends VERSION and SHELL).
//
// Guarantees:
// - The app shell (CSS, scripts, icons) is cached per VERSION; a new deploy changes VERSION,
//   so the new worker installs into a new cache and deletes the old ones when it activates.
//   It waits while an old page is open, and takes over when the page asks (pwa.js posts
//   "skip-waiting" when the person reloads or leaves the page), so a page never runs a mix
//   of two versions.
// - Pages: network first. The home page and room pages the person opened are kept (per
//   VERSION) so they open offline; anything else offline gets a small "you're offline"
//   page. Nothing under /api/ or /ws/ and no POST is ever cached or answered from cache.
// - Push: the notification text comes from the push (generic only: "New message in
//   Peggy's family room" — never a message body or a condition, escalation/push.py), in
//   the recipient's language; a tap opens the room the push names, and only a path on
//   this site.
// - Language: the worker has no gettext catalogue, so its own few words (the offline page,
//   the fallback notification line) are here in English and Welsh, chosen by the
//   Content-Language of the last page the person opened (kept in the pages cache, so it is
//   forgotten with them on sign-out). The page catalogues (/jsi18n/) are kept like the
//   pages, so a room opened offline still speaks the person's language.
/* global VERSION, SHELL */
const SHELL_CACHE = `cocare-shell-${VERSION}`;
const PAGES_CACHE = `cocare-pages-${VERSION}`;
const KEPT_PAGES = /^\/(?:people\/\d+\/(?:team|family)\/)?$/;
const KEPT_CATALOGUES = /^\/jsi18n\/(?:bots\/)?$/;
const LANG_KEY = "/__cocare-language";
const WORDS = {
  en: {
    lang: "en-GB",
    title: "Offline · CoCare",
    heading: "You're offline",
    text: "This page has not been opened on this phone before, so there is no copy of it here. Rooms you have opened are still available: go back, or open the home page.",
    home: "Home",
    fallback: "Something new in CoCare",
  },
  cy: {
    lang: "cy",
    title: "All-lein · CoCare",
    heading: "Rydych chi all-lein",
    text: "Nid yw'r dudalen hon wedi'i hagor ar y ffôn hwn o'r blaen, felly does dim copi ohoni yma. Mae'r ystafelloedd rydych chi wedi'u hagor ar gael o hyd: ewch yn ôl, neu agorwch yr hafan.",
    home: "Hafan",
    fallback: "Rhywbeth newydd yn CoCare",
  },
};

async function words() {
  try {
    const hit = await (await caches.open(PAGES_CACHE)).match(LANG_KEY);
    return (hit && WORDS[(await hit.text()).trim()]) || WORDS.en;
  } catch {
    return WORDS.en;
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((c) => c.addAll(SHELL)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("cocare-") && key !== SHELL_CACHE && key !== PAGES_CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const type = event.data && event.data.type;
  if (type === "skip-waiting") self.skipWaiting();
  else if (type === "forget-pages") event.waitUntil(caches.delete(PAGES_CACHE));
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate" || KEPT_CATALOGUES.test(url.pathname)) event.respondWith(page(req, url));
  else if (url.pathname.startsWith("/static/")) event.respondWith(shell(req));
});

async function page(req, url) {
  const cache = await caches.open(PAGES_CACHE);
  try {
    const resp = await fetch(req);
    const keep = KEPT_PAGES.test(url.pathname) || KEPT_CATALOGUES.test(url.pathname);
    if (resp.ok && resp.type === "basic" && keep) await cache.put(url.pathname, resp.clone());
    const lang = req.mode === "navigate" && resp.ok && resp.headers.get("Content-Language");
    if (lang) await cache.put(LANG_KEY, new Response(lang === "cy" ? "cy" : "en"));
    return resp;
  } catch {
    const kept = await cache.match(url.pathname);
    if (kept) return kept;
    return req.mode === "navigate" ? offlinePage(await words()) : new Response("", { status: 503 });
  }
}

async function shell(req) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(req, { ignoreSearch: true });
  if (hit) return hit;
  return fetch(req);
}

function offlinePage(w) {
  const html = `<!doctype html><html lang="${w.lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${w.title}</title>
<link rel="stylesheet" href="/static/web/app.css"></head><body><main id="main" class="narrow">
<h1>${w.heading}</h1><p>${w.text}</p>
<p><a href="/">${w.home}</a></p></main></body></html>`;
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

// ---- push ---------------------------------------------------------------------------

// Only a path on this site: a push can never send the person elsewhere.
function safePath(raw) {
  if (typeof raw !== "string") return "/";
  try {
    const u = new URL(raw, self.location.origin);
    return u.origin === self.location.origin ? u.pathname : "/";
  } catch {
    return "/";
  }
}

self.addEventListener("push", (event) => {
  let msg = {};
  try { msg = event.data ? event.data.json() : {}; } catch { msg = {}; }
  // FCM delivers {data: {...}, notification: {...}, fcmOptions: {link}}; ours sets all.
  const data = msg.data || {};
  const n = msg.notification || {};
  const title = String(data.title || n.title || "CoCare").slice(0, 100);
  const link = data.url || (msg.fcmOptions && msg.fcmOptions.link) || (data.kind === "alert" ? "/alerts/" : "/");
  const path = safePath(link);
  event.waitUntil(words().then((w) => self.registration.showNotification(title, {
    body: String(data.body || n.body || w.fallback).slice(0, 200), tag: data.tag || path, data: { url: path },
    icon: "/static/web/icons/icon-192.png", badge: "/static/web/icons/favicon-32.png",
  })));
});

async function openPath(path) {
  const url = new URL(safePath(path), self.location.origin).href;
  const wins = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const same = wins.find((w) => w.url === url);
  if (same) return same.focus();
  const tab = wins.find((w) => typeof w.navigate === "function");
  if (tab) {
    const moved = await tab.navigate(url);
    try { await (moved || tab).focus(); } catch { /* focus needs a real tap */ }
    return moved;
  }
  return self.clients.openWindow(url);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const done = openPath(event.notification.data && event.notification.data.url);
  // waitUntil throws on an untrusted event; the navigation still runs.
  try { event.waitUntil(done); } catch { /* dispatched by a test harness */ }
});
