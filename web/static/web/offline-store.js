// The last messages seen in each room, kept on the phone (IndexedDB) so a room opens
// offline with them. Only what this person was already shown is stored — entries the
// server sent to this page — keyed by (person, room, seq), so a replay overwrites and
// never duplicates. Cleared on sign-out (pwa.js). Every call is best effort: a browser
// without IndexedDB (private mode) simply has nothing offline.
const DB = "cocare";
const STORE = "messages";
const KEEP = 200; // per room

let opening = null;
function db() {
  if (!("indexedDB" in self)) return Promise.reject(new Error("no indexedDB"));
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => {
        const s = req.result.createObjectStore(STORE, { keyPath: ["person", "room", "seq"] });
        s.createIndex("room", ["person", "room"]);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
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

export function forgetAll() {
  return new Promise((resolve) => {
    if (!("indexedDB" in self)) { resolve(); return; }
    const go = () => {
      const r = indexedDB.deleteDatabase(DB);
      r.onsuccess = r.onerror = r.onblocked = () => resolve();
    };
    if (opening) opening.then((d) => { d.close(); opening = null; go(); }, go);
    else go();
  });
}
