// Photos and files on the room page (docs/attachments.md).
//
// - The camera button is a file input with capture="environment": on a phone it opens the
//   camera, and the photo goes straight to CoCare — never into the phone's gallery.
// - Each upload gets one client id before the first attempt and keeps it on every retry,
//   so the server's (sender, client_id) key makes a retry after a signal gap return the
//   stored entry instead of a second photo. Network errors, 5xx and 429 are retried with
//   backoff (and at once when the browser comes back online); any other refusal (a file
//   the server will not keep: wrong type, too large, empty) is shown and not retried.
// - Pending uploads are kept in IndexedDB until the server acknowledges them, so a
//   reload or a closed tab does not lose a photo taken with no signal.
// - Thumbnails load through /attachments/<id>/thumb/, which checks access on every load
//   and redirects to a short-lived signed URL; the full photo opens the same way.
// - User data is only set with textContent / attributes (el()), never innerHTML.
import { csrfToken, el, newClientId, timeOf } from "./socket.js";
import { icon } from "./icons.js";
import { _, fmt } from "./i18n.js";

const DB_NAME = "cocare-uploads";
const STORE = "pending";
const RETRY_MAX_MS = 30000;

function openDb() {
  return new Promise((resolve) => {
    if (!("indexedDB" in window)) { resolve(null); return; }
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "cid" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(null);
  });
}

async function idb(mode, fn) {
  const db = await openDb();
  if (!db) return null;
  return new Promise((resolve) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req ? req.result : null);
    tx.onerror = () => resolve(null);
  });
}

function sizeText(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`;
}

// An attachment entry in the message list.
export function renderAttachment(m, me) {
  const mine = m.sender.id === me;
  const p = m.payload || {};
  const li = el("li", {
    class: `msg attachment${mine ? " mine" : ""}`,
    dataset: { seq: m.seq, id: m.id, attachment: p.attachment },
  });
  li.append(el("div", { class: "meta" },
    el("span", { class: "who", text: mine ? _("You") : m.sender.name }),
    el("time", { datetime: m.created_at, text: timeOf(m.created_at) })));
  const href = `/attachments/${p.attachment}/`;
  if (p.thumb) {
    const w = p.width || 320, h = p.height || 240;
    const scale = Math.min(1, 240 / Math.max(w, h));
    li.append(el("a", { class: "photo", href, target: "_blank", rel: "noopener" },
      el("img", {
        class: "thumb",
        src: `/attachments/${p.attachment}/thumb/`,
        alt: `${mine ? _("Photo from you") : fmt(_("Photo from %(who)s"), { who: m.sender.name })}${m.body ? `: ${m.body}` : ""}`,
        width: Math.round(w * scale),
        height: Math.round(h * scale),
        loading: "lazy",
      })));
  } else {
    li.append(el("a", { class: "file", href, target: "_blank", rel: "noopener",
      text: `📄 ${fmt(_("Document (%(size)s)"), { size: sizeText(p.size || 0) })}` }));
  }
  if (m.body) li.append(el("p", { class: "text", text: m.body }));
  return li;
}

// The camera button and the upload queue. ``note`` shows a status line on the page.
export function setupCapture({ room, composer, body, outbox, note }) {
  const input = el("input", {
    type: "file", accept: "image/*,application/pdf", capture: "environment",
    id: "camera", class: "sr-only",
  });
  const label = el("label", { for: "camera", class: "camera", title: _("Take a photo") },
    icon("camera"),
    el("span", { class: "sr-only", text: _("Take a photo") }));
  composer.prepend(label, input);
  const timers = new Map();

  function pendingLi(cid) {
    return outbox.querySelector(`li[data-upload="${CSS.escape(cid)}"]`);
  }

  function showPending(job, state, failed = false) {
    let li = pendingLi(job.cid);
    if (!li) {
      li = el("li", { class: "msg mine pending upload", dataset: { upload: job.cid } },
        el("p", { class: "text", text: job.caption || fmt(_("Photo: %(name)s"), { name: job.name || _("from the camera") }) }),
        el("span", { class: "state small" }));
      outbox.append(li);
    }
    li.querySelector(".state").textContent = state;
    li.classList.toggle("failed", !!failed);
  }

  async function attempt(job) {
    clearTimeout(timers.get(job.cid));
    showPending(job, job.tries ? fmt(_("Sending photo again (try %(n)s)…"), { n: job.tries + 1 }) : _("Sending photo…"));
    const form = new FormData();
    form.append("client_id", job.cid);
    form.append("caption", job.caption || "");
    form.append("file", job.blob, job.name || "photo");
    let resp = null;
    try {
      resp = await fetch(`/api/rooms/${job.room}/attachments`, {
        method: "POST", body: form, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      });
    } catch { resp = null; }
    if (resp && (resp.status === 200 || resp.status === 201)) {
      await idb("readwrite", (s) => s.delete(job.cid));
      const li = pendingLi(job.cid);
      if (li) li.remove();
      return;
    }
    if (resp && resp.status !== 429 && resp.status < 500) {
      let message = _("The photo could not be sent.");
      try { message = (await resp.json()).message || message; } catch { /* keep default */ }
      await idb("readwrite", (s) => s.delete(job.cid));
      showPending(job, fmt(_("Not sent: %(why)s"), { why: message }), true);
      note(fmt(_("Not sent: %(why)s"), { why: message }));
      return;
    }
    job.tries = (job.tries || 0) + 1;
    const delay = Math.min(RETRY_MAX_MS, 1000 * 2 ** Math.min(job.tries, 5));
    showPending(job, navigator.onLine === false
      ? _("Waiting for signal — the photo is kept and sent when you're back.")
      : _("Connection lost — trying again…"));
    timers.set(job.cid, setTimeout(() => attempt(job), delay));
  }

  async function enqueue(file) {
    const job = {
      cid: newClientId(), room, blob: file, name: file.name,
      caption: body.value.trim(), tries: 0, at: Date.now(),
    };
    body.value = "";
    await idb("readwrite", (s) => s.put(job));
    attempt(job);
  }

  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    input.value = "";
    if (file) enqueue(file);
  });

  const retryAll = () => idb("readonly", (s) => s.getAll()).then((jobs) => {
    for (const job of jobs || []) if (job.room === room) attempt(job);
  });
  window.addEventListener("online", retryAll);
  retryAll(); // photos left waiting by an earlier visit to this page
}
