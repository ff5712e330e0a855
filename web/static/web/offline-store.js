// What the phone keeps in IndexedDB (database "cocare"):
//
// - `messages`: the last messages seen in each room, so a room opens offline with them.
//   Only what this person was already shown is stored — entries the server sent to this
//   page — keyed by (person, room, seq), so a replay overwrites and never duplicates.
//   Cleared on sign-out (pwa.js). Best effort: without IndexedDB there is nothing offline.
// - `outbox` (version 2): every frame that changes the record (send, edit, redact, card
//   answer, check-in/out with its tap time), keyed by (person, client id), stored *before*
//   it is sent and removed only on the server's ack. A write resolves only once its
//   transaction has committed, so the composer clears only when the message is on disk.
//   Outbox entries survive sign-out (they are this person's unsent words; only their own
//   page shows or sends them) just as the localStorage outbox did, which is migrated here
//   once (`migrateOutbox`).
const DB = "cocare";
const STORE = "messages";
const OUTBOX = "outbox";
const VERSION = 2;
const KEEP = 200; // per room

let opening = null;
function db() {
  if (!("indexedDB" in self)) return Promise.reject(new Error("no indexedDB"));
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, VERSION);
      req.onupgradeneeded = (ev) => {
        const d = req.result;
        if (ev.oldVersion < 1) {
          const s = d.createObjectStore(STORE, { keyPath: ["person", "room", "seq"] });
          s.createIndex("room", ["person", "room"]);
        }
        if (ev.oldVersion < 2) d.createObjectStore(OUTBOX, { keyPath: ["person", "cid"] });
      };
      req.onsuccess = () => {
        const d = req.result;
        // A newer page (after an update) upgrading the database must not be blocked by us.
        d.onversionchange = () => { d.close(); opening = null; };
        resolve(d);
      };
      req.onerror = () => { opening = null; reject(req.error); };
    });
  }
  return opening;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

let writes = 0;

// Store a message frame the page showed, at once (a reload may follow any moment).
export function remember(person, m) {
  const row = { person, room: m.room, seq: m.seq, wire: m };
  db().then((d) => {
    const tx = d.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(row);
    return done(tx);
  }).then(() => {
    writes += 1;
    if (writes % 50 === 0) return trim(person, m.room);
    return null;
  }).catch(() => { /* nothing offline then */ });
}

async function trim(person, room) {
  const d = await db();
  const tx = d.transaction(STORE, "readwrite");
  const range = IDBKeyRange.bound([person, room, 0], [person, room, Number.MAX_SAFE_INTEGER]);
  const keys = await new Promise((resolve) => {
    const r = tx.objectStore(STORE).getAllKeys(range);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => resolve([]);
  });
  for (const k of keys.slice(0, Math.max(0, keys.length - KEEP))) tx.objectStore(STORE).delete(k);
  await done(tx);
}

// The stored frames of one room with seq > afterSeq, oldest first.
export async function recall(person, room, afterSeq) {
  try {
    const d = await db();
    const tx = d.transaction(STORE, "readonly");
    const range = IDBKeyRange.bound([person, room, afterSeq + 1], [person, room, Number.MAX_SAFE_INTEGER]);
    return await new Promise((resolve) => {
      const r = tx.objectStore(STORE).getAll(range);
      r.onsuccess = () => resolve(r.result.map((row) => row.wire));
      r.onerror = () => resolve([]);
    });
  } catch {
    return [];
  }
}

// Sign-out: the kept messages go; the outbox stays (see the top of this file).
export async function forgetAll() {
  try {
    const d = await db();
    const tx = d.transaction(STORE, "readwrite");
    tx.objectStore(STORE).clear();
    await done(tx);
  } catch { /* nothing kept */ }
}

// ---- the outbox ---------------------------------------------------------------------

let counter = 0;
const personRange = (person) => IDBKeyRange.bound([person, ""], [person, "\uffff"]);
const inOrder = (list) => list.sort((a, b) => a.n - b.n);
const changed = "BroadcastChannel" in self ? new BroadcastChannel("cocare-outbox") : null;

// Other pages of this phone hear when the outbox changes (the count of waiting messages).
export function onOutboxChange(fn) {
  if (changed) changed.onmessage = fn;
}

// This person's waiting entries, oldest first. Rejects when IndexedDB is unusable.
export async function outboxAll(person) {
  const d = await db();
  const tx = d.transaction(OUTBOX, "readonly");
  const rows = await new Promise((resolve, reject) => {
    const r = tx.objectStore(OUTBOX).getAll(personRange(person));
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  return inOrder(rows.map((row) => row.entry));
}

// Add entries in one transaction; resolves once they are committed to disk.
export async function outboxAdd(person, entries) {
  const d = await db();
  const tx = d.transaction(OUTBOX, "readwrite");
  for (const entry of entries) tx.objectStore(OUTBOX).put({ person, cid: entry.cid, n: entry.n, entry });
  await done(tx);
  if (changed) changed.postMessage("changed");
}

// A new entry's place in the queue: the tap order on this phone.
export function nextOrder() {
  counter = (counter + 1) % 1000;
  return Date.now() * 1000 + counter;
}

// Read-modify-write of this person's whole outbox in one transaction (so two pages of
// the same phone cannot interleave): ``fn`` changes the list in place.
export async function outboxMutate(person, fn) {
  const d = await db();
  const tx = d.transaction(OUTBOX, "readwrite");
  const store = tx.objectStore(OUTBOX);
  const list = await new Promise((resolve, reject) => {
    const r = store.getAll(personRange(person));
    r.onsuccess = () => resolve(inOrder(r.result.map((row) => row.entry)));
    r.onerror = () => reject(r.error);
  });
  fn(list);
  store.delete(personRange(person));
  for (const e of list) store.put({ person, cid: e.cid, n: e.n, entry: e });
  await done(tx);
  if (changed) changed.postMessage("changed");
  return list;
}

// Once per phone and person: entries an earlier version kept in localStorage move here
// with their client ids (so a message already sent before the update is a duplicate ack,
// never a second message); the localStorage key is removed only after the commit.
export async function migrateOutbox(person) {
  const key = `cocare.outbox.${person}`;
  let old;
  try { old = JSON.parse(localStorage.getItem(key) || "null"); } catch { old = null; }
  if (!Array.isArray(old)) { if (old !== null) localStorage.removeItem(key); return 0; }
  const d = await db();
  const tx = d.transaction(OUTBOX, "readwrite");
  old.forEach((e, i) => {
    if (!e || typeof e.cid !== "string" || !e.frame) return;
    const entry = { cid: e.cid, frame: e.frame, after: e.after || null, at: e.at || 0,
      n: (e.at || 0) * 1000 + i };
    tx.objectStore(OUTBOX).put({ person, cid: entry.cid, n: entry.n, entry });
  });
  await done(tx);
  localStorage.removeItem(key);
  return old.length;
}
