// The service-user page: one room's conversation, live (docs/protocol.md).
//
// Guarantees kept here:
// - Nothing the person writes is lost: every frame that changes the record (send, edit,
//   redact, card answer, check-in/out) goes into the IndexedDB outbox (offline-store.js)
//   keyed by its client id, committed *before* it is sent and before the composer clears,
//   and leaves the outbox only when the server acks it.
//   After a reconnect the outbox is sent again with the same client ids, so the server's
//   (sender, client_id) key turns any repeat into a duplicate ack — never a second message.
// - A resumed subscription asks for entries after the last seq shown (after_seq), so
//   nothing missed while disconnected is skipped and nothing is shown twice.
// - User data is only ever set with textContent (see el() in socket.js), never innerHTML.
// - Older history is fetched by scrolling up (GET .../messages?before_seq=), never before
//   this member's visible_from; ticks on my messages come from delivered and read positions of the
//   people who can see each message (a late joiner whose history starts after it does
//   not count).
import { Socket, csrfToken, el, newClientId, timeOf } from "./socket.js";
import { icon, optionIcon } from "./icons.js";
import { createVisitCards } from "./visitcard.js";
import { renderAttachment, setupCapture } from "./attachments.js";
import {
  migrateOutbox, nextOrder, onOutboxChange, outboxAdd, outboxAll, outboxMutate, recall, remember,
} from "./offline-store.js";
import { _, fmt, pgettext } from "./i18n.js";

const cfg = JSON.parse(document.getElementById("chat-config").textContent);
// The person's own language: i18n.js (Django's JavaScriptCatalog, English without it).
// A bot's question in the reader's language: the bank's text by its key (msgctxt "bot
// question"), with the person's name put in; the posted English title when not translated.
function questionTitle(p) {
  const key = (p.data || {}).question_key;
  if (!key || typeof window.pgettext !== "function") return p.title;
  const text = window.pgettext("bot question", key);
  if (text === key || text.includes("{goal}")) return p.title;
  return text.replace("{name}", cfg.name);
}
const $ = (id) => document.getElementById(id);
const RETRYABLE = new Set(["server_error", "rate_limited"]);
const members = new Map(Object.entries(cfg.members).map(([k, v]) => [Number(k), v]));
// People who count for ticks, with the seq their history starts after (visible_from).
const receipts = new Map(Object.entries(cfg.receipts || {}).map(([k, v]) => [Number(k), v]));
const OLDER_PAGE = 50;
const POSITION_MAX_AGE_MS = 10000;

const state = {
  lastSeq: cfg.start_seq,
  subscribed: false,
  bySeq: new Map(),
  cards: new Map(),
  inflight: new Set(),
  reads: new Map(Object.entries(cfg.reads).map(([k, v]) => [Number(k), v])),
  delivered: new Map(Object.entries(cfg.delivered || {}).map(([k, v]) => [Number(k), v])),
  readSent: 0,
  deliveredSent: 0,
  replyTo: null,
  editing: null,
  typingClear: null,
  typingSent: 0,
  conn: "connecting",
  oldest: cfg.start_seq + 1, // the oldest seq this page has asked for
  loadingOlder: false,
  visitOpen: Boolean(cfg.visit_open),
  waiting: 0, // entries in the outbox, for the connection line
  submitting: false,
};

// ---- outbox ----------------------------------------------------------------------------

// Without a usable IndexedDB (some private modes) the outbox lives in this page only:
// messages are still sent, but a reload before they are acked loses them.
const memoryOutbox = [];
let durable = true;
// First load: entries an earlier version kept in localStorage move to IndexedDB once.
const outboxReady = migrateOutbox(cfg.me.id).then(() => outboxAll(cfg.me.id)).catch(() => {
  durable = false;
});

async function loadOutbox() {
  await outboxReady;
  let list = memoryOutbox.slice();
  if (durable) { try { list = await outboxAll(cfg.me.id); } catch { /* keep the page's copy */ } }
  state.waiting = list.length;
  return list;
}

async function mutateOutbox(fn) {
  await outboxReady;
  let list;
  if (durable) list = await outboxMutate(cfg.me.id, fn);
  else { fn(memoryOutbox); list = memoryOutbox; }
  state.waiting = list.length;
  return list;
}

// Resolves once the entry is committed (or, without IndexedDB, held by the page).
// ``twin`` (the family copy of a team message) is written in the same transaction and
// waits for the original's ack, so an ack can never arrive before its twin is stored.
async function enqueue(frame, twin = null) {
  const entries = [{ cid: frame.client_id, frame, after: null, at: Date.now(), n: nextOrder() }];
  if (twin) entries.push({ cid: twin.client_id, frame: twin, after: frame.client_id, at: Date.now(), n: nextOrder() });
  await outboxReady;
  if (durable) {
    try { await outboxAdd(cfg.me.id, entries); } catch { durable = false; memoryOutbox.push(...entries); }
  } else {
    memoryOutbox.push(...entries);
  }
  state.waiting += entries.length;
  for (const entry of entries) if (entry.frame.room === cfg.room) renderPending(entry);
  flush();
}

async function flush() {
  const list = await loadOutbox();
  if (!sock.ready || !state.subscribed) { showConn(); return; }
  const waiting = new Set(list.map((e) => e.cid));
  for (const e of list) {
    if (state.inflight.has(e.cid)) continue;
    if (e.after && waiting.has(e.after)) continue; // a shared twin waits for its original
    if (sock.send(e.frame)) state.inflight.add(e.cid);
  }
  showConn();
}

async function onAck(f) {
  let entry = null;
  await mutateOutbox((list) => {
    const i = list.findIndex((e) => e.cid === f.client_id);
    if (i >= 0) entry = list.splice(i, 1)[0];
    for (const e of list) {
      if (e.after === f.client_id) {
        e.after = null;
        e.frame.payload = { ...(e.frame.payload || {}), shared_from: f.id };
      }
    }
  });
  // Only now (removed on disk) may a flush stop skipping it, or it would go out again.
  state.inflight.delete(f.client_id);
  const li = pendingLi(f.client_id);
  if (li) {
    if (state.bySeq.has(f.seq) && f.room === cfg.room) li.remove();
    else if (entry && entry.frame.type !== "send") li.remove();
    else { li.classList.add("sent"); li.querySelector(".state").replaceChildren(icon("check", { size: 16 }), _("Sent")); }
  }
  flush();
}

async function onSendError(f) {
  if (RETRYABLE.has(f.code)) { state.inflight.delete(f.client_id); setTimeout(flush, 3000); return; }
  // Refused for good (invalid, forbidden, not found, conflict): say so, keep the text.
  await mutateOutbox((list) => {
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].cid === f.client_id || list[i].after === f.client_id) list.splice(i, 1);
    }
  });
  state.inflight.delete(f.client_id);
  const li = pendingLi(f.client_id);
  if (li) {
    li.classList.add("failed");
    li.querySelector(".state").textContent = fmt(_("Not sent: %(why)s"), { why: f.message });
  } else {
    note(fmt(_("Not sent: %(why)s"), { why: f.message }));
  }
  flush();
}

function pendingLi(cid) {
  return document.querySelector(`#outbox li[data-cid="${CSS.escape(cid)}"]`);
}

function renderPending(entry) {
  const fr = entry.frame;
  if (fr.type !== "send" || fr.kind === "answer") return;
  if (pendingLi(entry.cid)) return;
  const li = el("li", { class: "msg mine pending", dataset: { cid: entry.cid } },
    el("p", { class: "text", text: fr.body }),
    el("span", { class: "state small" }, icon("clock", { size: 16 }), _("Waiting to send")));
  $("outbox").append(li);
  scrollDown(true);
}

// ---- the socket -----------------------------------------------------------------------

// note() is a hoisted function declaration, so it can be handed over before its definition.
const visitCards = createVisitCards({
  me: cfg.me.id, teamRoom: cfg.kind === "professional",
  canRecord: cfg.kind === "professional" && cfg.me.role === "care_worker", note,
});

const sock = new Socket({ onFrame: handle, onState: (s) => { state.conn = s; onConnState(s); } });

function onConnState(s) {
  if (s !== "online") { state.subscribed = false; state.inflight.clear(); }
  showConn();
}

function showConn() {
  const waiting = state.waiting;
  const texts = {
    offline: _("You're offline. What you write is kept and sent when you're back."),
    reconnecting: _("Connection lost. Reconnecting…"),
    connecting: _("Connecting…"),
    "signed-out": _("You have been signed out. Sign in again to carry on."),
  };
  let t = texts[state.conn] || "";
  if (state.conn !== "online" && waiting) t += ` ${fmt(_("%(n)s waiting to send."), { n: waiting })}`;
  $("conn").textContent = t;
  $("conn").dataset.state = state.conn;
}

function handle(f) {
  switch (f.type) {
    case "hello":
      sock.send({ type: "subscribe", room: cfg.room, after_seq: state.lastSeq });
      break;
    case "subscribed":
      if (f.room === cfg.room) { state.subscribed = true; flush(); scheduleRead(); }
      break;
    case "message":
      onMessage(f);
      break;
    case "ack":
      onAck(f);
      break;
    case "typing":
      if (f.room === cfg.room) showTyping(f.person);
      break;
    case "read":
      if (f.room === cfg.room) { state.reads.set(f.person, f.seq); updateSeen(); }
      break;
    case "delivered":
      if (f.room === cfg.room) {
        state.delivered.set(f.person, Math.max(f.seq, state.delivered.get(f.person) || 0));
        updateSeen();
      }
      break;
    case "revoked":
      if (f.room === cfg.room) {
        $("composer").hidden = true;
        note(_("You no longer have access to this room."));
      }
      break;
    case "error":
      if (f.client_id) onSendError(f);
      else note(f.message);
      break;
    default:
      break;
  }
}

// ---- rendering ------------------------------------------------------------------------

function onMessage(m) {
  if (m.room !== cfg.room) return;
  if (state.bySeq.has(m.seq)) return;
  state.lastSeq = Math.max(state.lastSeq, m.seq);
  if (m.client_id && m.sender.id === cfg.me.id) {
    const p = pendingLi(m.client_id);
    if (p) p.remove();
  }
  if (m.kind === "system") followVisit(m);
  let li = null;
  if (m.kind === "edit") applyEdit(m);
  else if (m.kind === "redaction") applyRedaction(m);
  else li = renderEntry(m);
  state.bySeq.set(m.seq, { wire: m, li });
  if (!m.cached) remember(cfg.me.id, m); // for offline reloads (offline-store.js)
  if (li) {
    const nearBottom = isNearBottom();
    $("messages").append(li);
    scrollDown(nearBottom || m.sender.id === cfg.me.id);
  }
  scheduleRead();
  updateSeen();
}

function renderEntry(m) {
  if (m.redacted && !isWords(m)) return renderRemoved(m);
  if (m.kind === "card") return renderCard(m);
  if (m.kind === "answer") return renderAnswer(m);
  if (m.kind === "system") return renderNotice(m);
  if (m.kind === "attachment") return renderAttachment(m, cfg.me.id);
  if (isWords(m)) return renderText(m);
  return null;
}

// ---- older history (scroll up) ----------------------------------------------------------

async function loadOlder() {
  if (state.loadingOlder || state.oldest <= cfg.visible_from + 1) return;
  state.loadingOlder = true;
  $("older").textContent = _("Loading earlier messages…");
  try {
    const r = await fetch(`/api/rooms/${cfg.room}/messages?before_seq=${state.oldest}&limit=${OLDER_PAGE}`,
      { credentials: "same-origin" });
    if (!r.ok) { $("older").textContent = _("Earlier messages could not be loaded."); return; }
    const page = await r.json();
    const log = $("log");
    const fromBottom = log.scrollHeight - log.scrollTop;
    const frag = document.createDocumentFragment();
    for (const m of page.messages) {
      if (state.bySeq.has(m.seq)) continue;
      // History rows already carry an entry's current text, so older edits and
      // redactions need not be applied again: they only keep their place.
      const li = m.kind === "edit" || m.kind === "redaction" ? null : renderEntry(m);
      state.bySeq.set(m.seq, { wire: m, li });
      if (li) frag.append(li);
    }
    $("messages").prepend(frag);
    state.oldest = page.messages.length ? page.messages[0].seq : cfg.visible_from + 1;
    if (!page.more) state.oldest = Math.min(state.oldest, cfg.visible_from + 1);
    log.scrollTop = log.scrollHeight - fromBottom; // keep what the person was reading in place
    $("older").textContent = state.oldest <= cfg.visible_from + 1 ? _("Start of the conversation") : "";
    updateSeen();
  } catch {
    $("older").textContent = _("Earlier messages could not be loaded (no connection).");
  } finally {
    state.loadingOlder = false;
  }
}

$("log").addEventListener("scroll", () => { if ($("log").scrollTop < 80) loadOlder(); }, { passive: true });

function renderText(m) {
  const mine = m.sender.id === cfg.me.id;
  const li = el("li", {
    class: `msg ${m.kind}${mine ? " mine" : ""}${m.redacted ? " deleted" : ""}`,
    dataset: { seq: m.seq, id: m.id },
  });
  li.append(el("div", { class: "meta" },
    el("span", { class: "who", text: mine ? _("You") : m.sender.name }),
    m.kind === "note" ? el("span", { class: "badge", text: _("Clinical note") }) : null,
    el("time", { datetime: m.created_at, text: timeOf(m.created_at) }),
    mine && !m.redacted ? el("span", { class: "ticks", dataset: { tick: "sent" } }) : null));
  if (m.reply_to) {
    const orig = state.bySeq.get(m.reply_to);
    const quoted = orig ? `${orig.wire.sender.name}: ${orig.wire.body || _("(deleted)")}` : _("an earlier message");
    li.append(el("blockquote", { class: "quote" }, icon("reply", { size: 16 }), ` ${quoted}`));
  }
  li.append(el("p", { class: "text", text: m.redacted ? _("This message was deleted.") : wordsOf(m) }));
  const extras = [];
  if (m.edited && !m.redacted) extras.push(_("edited"));
  if (m.payload && m.payload.location) {
    extras.push(fmt(_("location shared (±%(m)s m)"), { m: Math.round(m.payload.location.accuracy) }));
  }
  if (m.payload && m.payload.shared_from) extras.push(_("shared from the team"));
  li.append(el("span", { class: "extras small", text: extras.join(" · ") }));
  if (!m.redacted) li.append(actionsFor(m, li));
  return li;
}

function actionsFor(m, li) {
  const mine = m.sender.id === cfg.me.id;
  const menuId = `menu-${m.seq}`;
  const menu = el("div", { class: "menu", id: menuId, hidden: true });
  const toggle = el("button", {
    type: "button", class: "more", "aria-expanded": "false", "aria-controls": menuId,
    "aria-label": mine ? _("Actions for your message") : fmt(_("Actions for %(who)s's message"), { who: m.sender.name }),
    onclick: () => {
      const open = menu.hidden;
      document.querySelectorAll(".menu:not([hidden])").forEach((x) => { x.hidden = true; });
      document.querySelectorAll(".more[aria-expanded=true]").forEach((x) => x.setAttribute("aria-expanded", "false"));
      menu.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
    },
  });
  toggle.append(icon("more"));
  const close = () => { menu.hidden = true; toggle.setAttribute("aria-expanded", "false"); };
  menu.append(el("button", { type: "button", text: _("Reply"), onclick: () => { close(); startReply(m); } }));
  if (mine && isWords(m)) {
    menu.append(el("button", { type: "button", text: _("Edit"), onclick: () => { close(); startEdit(m, li); } }));
  }
  if (mine || cfg.can_moderate) {
    const del = el("button", { type: "button", class: "danger", text: _("Delete") });
    del.addEventListener("click", () => {
      if (del.dataset.confirm) {
        close();
        enqueue({ type: "redact", room: cfg.room, client_id: newClientId(), target: m.seq });
      } else {
        del.dataset.confirm = "1";
        del.textContent = _("Tap again to delete");
      }
    });
    menu.append(del);
  }
  menu.append(el("button", { type: "button", text: _("Raise concern"), onclick: () => { close(); openConcern(m); } }));
  return el("div", { class: "actions" }, toggle, menu);
}

function applyEdit(m) {
  const t = state.bySeq.get(m.target);
  if (!t) return;
  t.wire.body = m.body;
  t.wire.edited = true;
  if (t.li) {
    t.li.querySelector(".text").textContent = m.body;
    const ex = t.li.querySelector(".extras");
    if (ex && !ex.textContent.includes(_("edited"))) ex.textContent = [_("edited"), ex.textContent].filter(Boolean).join(" · ");
  }
}

function applyRedaction(m) {
  const t = state.bySeq.get(m.target);
  if (!t) return;
  t.wire.body = "";
  t.wire.redacted = true;
  if (t.li && !isWords(t.wire)) {
    // Notices, cards and answers are removed by retention: nothing of them stays on screen.
    if (t.wire.kind === "card") state.cards.delete((t.wire.payload || {}).card_id);
    t.wire.payload = {};
    const removed = renderRemoved(t.wire);
    t.li.replaceWith(removed);
    t.li = removed;
  } else if (t.li) {
    t.li.classList.add("deleted");
    t.li.querySelector(".text").textContent = _("This message was deleted.");
    const a = t.li.querySelector(".actions");
    if (a) a.remove();
    const tk = t.li.querySelector(".ticks");
    if (tk) tk.remove();
  }
}

// Text and notes: people's own words, which they can edit and delete. Notices, cards and
// answers come from bots and the system.
function isWords(m) {
  return m.kind === "text" || m.kind === "note";
}

function renderRemoved(m) {
  return el("li", { class: "notice deleted", dataset: { seq: m.seq } },
    el("span", { class: "text", text: _("This entry was removed.") }));
}

// Bots post one English sentence to a room whose readers may read different languages;
// each page says it in its reader's language. A sentence with a name, a time or a number
// in it is matched by its event's patterns (bots/flows/checkin.py, careplan/prompts.py)
// and rebuilt from the translated template; a fixed sentence is looked up as it is
// (locale/*/bots.po). Anything not matched stays as posted — never a wrong translation.
const WHERE = [
  [/^at home$/, () => _("at home")],
  [/^about (\d+) m from home \(±(\d+) m\)$/, () => _("about %(1)s m from home (±%(2)s m)")],
  [/^no location shared$/, () => _("no location shared")],
  [/^location not checked \(exempt\)$/, () => _("location not checked (exempt)")],
  [/^no home location on record$/, () => _("no home location on record")],
];
const where = (text) => {
  for (const [re, t] of WHERE) {
    const m = re.exec(text);
    if (m) return fmt(t(), { 1: m[1], 2: m[2] });
  }
  return text;
};
const NOTICE_PATTERNS = {
  "visit.arrived": [[/^(.+) arrived (.+)$/, () => _("%(1)s arrived %(2)s")]],
  "visit.left": [[/^(.+) left (.+)$/, () => _("%(1)s left %(2)s")]],
  "visit.checked_in": [[/^(.+) checked in (\d\d:\d\d) \((.+)\)\.$/, () => _("%(1)s checked in %(2)s (%(3)s)."), where]],
  "visit.checked_out": [[/^(.+) checked out (\d\d:\d\d) after (\d+) min \((.+)\)\.$/,
    () => _("%(1)s checked out %(2)s after %(3)s min (%(4)s)."), where]],
  "visit.reason_requested": [
    [/^I couldn't confirm the check-in at (.+)'s home \((.+)\)\. That's fine — please send a short reason\.$/,
      () => _("I couldn't confirm the check-in at %(1)s's home (%(2)s). That's fine — please send a short reason."), where],
    [/^I couldn't confirm the check-out at (.+)'s home \((.+)\)\. That's fine — please send a short reason\.$/,
      () => _("I couldn't confirm the check-out at %(1)s's home (%(2)s). That's fine — please send a short reason."), where],
    [/^I couldn't confirm the check-out at (.+)'s home \((.+)\)\. That's fine — please send a short reason for the check-in and the check-out\.$/,
      () => _("I couldn't confirm the check-out at %(1)s's home (%(2)s). That's fine — please send a short reason for the check-in and the check-out."), where],
  ],
  "visit.dose_due": [
    [/^A medicine is due now \((\d\d:\d\d)\) — record it on the visit card\.$/,
      () => _("A medicine is due now (%(1)s) — record it on the visit card.")],
    [/^(\d+) medicines are due now \((\d\d:\d\d)\) — record them on the visit card\.$/,
      () => _("%(1)s medicines are due now (%(2)s) — record them on the visit card.")],
  ],
  "bot.hint": [
    [/^You already checked out at (\d\d:\d\d)\.$/, () => _("You already checked out at %(1)s.")],
    [/^You're already checked in \(since (\d\d:\d\d)\)\.$/, () => _("You're already checked in (since %(1)s).")],
    [/^Please tap an answer, or reply with a number from 1 to (\d+)\.$/,
      () => _("Please tap an answer, or reply with a number from 1 to %(1)s.")],
  ],
  "bot.thanks": [[/^Thank you, (.+) — that's all for today\.$/, () => _("Thank you, %(1)s — that's all for today.")]],
};

function noticeText(ev, body) {
  for (const [re, template, last] of NOTICE_PATTERNS[ev] || []) {
    const m = re.exec(body);
    if (!m) continue;
    const parts = Object.fromEntries(m.slice(1).map((v, i) => [i + 1, v]));
    // The location's description is the last part (bots/geo.py describe()).
    if (last) parts[m.length - 1] = last(parts[m.length - 1]);
    return fmt(template(), parts);
  }
  return _(body);
}

// The visit buttons post the words "Check in" / "Check out" (the bot reads English); a
// reader sees them in their language. Anything else a person wrote stays as written.
function wordsOf(m) {
  const tapped = m.kind === "text" && m.payload && m.payload.tapped_at;
  if (tapped && m.body === "Check in") return _("Check in");
  if (tapped && m.body === "Check out") return _("Check out");
  return m.body;
}

// The key-information card's title (bots/flows/checkin.py), in the reader's language.
function keyInfoTitle(title) {
  let m = /^First visit to (.+): key information$/.exec(title || "");
  if (m) return fmt(_("First visit to %(1)s: key information"), { 1: m[1] });
  m = /^Since your last visit, (.+)'s key information changed \((.+)\)$/.exec(title || "");
  if (m) return fmt(_("Since your last visit, %(1)s's key information changed (%(2)s)"), { 1: m[1], 2: m[2] });
  return title || _("Key information");
}

function renderNotice(m) {
  const ev = (m.payload && m.payload.event) || "";
  if (ev === "visit.dose_due") visitCards.onDosePrompt(m); // redraw the visit card's medicines
  const name = ev === "visit.arrived" ? "home" : ev === "visit.left" ? "leave" : ev.startsWith("alert.") ? "bell" : null;
  const cls = ev.startsWith("visit.") ? "notice visit" : ev.startsWith("alert.") ? "notice alert" : "notice";
  return el("li", { class: cls, dataset: { seq: m.seq, event: ev }, title: timeOf(m.created_at) },
    name ? icon(name, { size: 20 }) : null, el("span", { text: noticeText(ev, m.body || "") }));
}

function canAnswer() {
  if (cfg.kind === "family") return cfg.me.role === "family" || cfg.me.role === "service_user";
  return cfg.me.role === "care_worker";
}

function renderCard(m) {
  const p = m.payload || {};
  // The visit's care-plan tasks (and, in the team room, its medicines): a checklist, not a
  // one-answer question (web/static/web/visitcard.js).
  if (p.card_type === "visit_tasks") return visitCards.render(m);
  if (p.card_type === "key_info") {
    const d = p.data || {};
    const dl = el("dl");
    for (const [k, label] of [["preferences", _("Preferences")], ["what_matters", _("What matters")],
      ["communication_needs", _("Communication")], ["access_notes", _("Access")]]) {
      if (d[k]) dl.append(el("dt", { text: label }), el("dd", { text: String(d[k]) }));
    }
    return el("li", { class: "card keyinfo-card", dataset: { seq: m.seq } },
      el("h3", { text: keyInfoTitle(p.title) }), dl);
  }
  const data = p.data || {};
  const li = el("li", { class: "card question", dataset: { seq: m.seq, card: p.card_id } });
  if (data.n && data.of) li.append(el("p", { class: "small muted", text: fmt(_("Question %(n)s of %(of)s"), data) }));
  const h = el("h3", { text: questionTitle(p), id: `card-${m.seq}` });
  const group = el("div", { class: "options", role: "group", "aria-labelledby": `card-${m.seq}` });
  const card = { li, options: new Map(), answered: null };
  const allowed = canAnswer();
  for (const o of p.options || []) {
    const b = el("button", { type: "button", class: "option", "aria-pressed": "false", disabled: !allowed },
      el("span", { class: "emoji", "aria-hidden": "true" }, optionIcon(o.emoji || "")),
      el("span", { class: "label", text: _(o.label) }));
    if (o.colour) b.style.setProperty("--opt", o.colour);
    b.addEventListener("click", () => answer(p.card_id, o.value));
    card.options.set(o.value, { button: b, label: _(o.label), emoji: o.emoji || "" });
    group.append(b);
  }
  li.append(h, group);
  state.cards.set(p.card_id, card);
  return li;
}

function markChosen(cardId, value) {
  const card = state.cards.get(cardId);
  if (!card || card.answered !== null) return;
  card.answered = value;
  for (const [v, o] of card.options) {
    o.button.disabled = true;
    o.button.setAttribute("aria-pressed", String(v === value));
    if (v === value) o.button.classList.add("chosen");
  }
  card.li.classList.add("answered");
}

function answer(cardId, value) {
  const card = state.cards.get(cardId);
  if (!card || card.answered !== null) return;
  markChosen(cardId, value);
  enqueue({ type: "send", room: cfg.room, client_id: newClientId(), kind: "answer",
    payload: { card_id: cardId, value } });
}

function renderAnswer(m) {
  const p = m.payload || {};
  if (visitCards.onAnswer(m)) return null; // a task ticked from elsewhere: the card shows it
  markChosen(p.card_id, p.value);
  const card = state.cards.get(p.card_id);
  const opt = card && card.options.get(p.value);
  const who = m.sender.id === cfg.me.id ? _("You") : m.sender.name;
  const what = opt ? opt.label : `${p.value}`;
  const li = el("li", { class: "answer small", dataset: { seq: m.seq, id: m.id } },
    el("span", { text: fmt(_("%(who)s answered: %(what)s"), { who, what }) }));
  if (m.redacted) return li;
  li.append(actionsFor({ ...m, kind: "answer", sender: m.sender }, li));
  return li;
}

// ---- composer, reply, edit ------------------------------------------------------------

function startReply(m) {
  state.editing = null;
  state.replyTo = m.seq;
  showContext(fmt(_("Replying to %(who)s: %(what)s"), { who: m.sender.name, what: m.body || "" }).slice(0, 120));
}

function startEdit(m) {
  state.replyTo = null;
  state.editing = m.seq;
  $("body").value = state.bySeq.get(m.seq)?.wire.body || m.body;
  showContext(_("Editing your message"));
}

function showContext(text) {
  $("context-text").textContent = text;
  $("context-bar").hidden = false;
  $("body").focus();
}

function clearContext() {
  state.replyTo = null;
  state.editing = null;
  $("context-bar").hidden = true;
}

$("context-cancel").addEventListener("click", () => {
  if (state.editing) $("body").value = "";
  clearContext();
});

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const typed = $("body").value;
  const body = typed.trim();
  if (!body || state.submitting) return;
  state.submitting = true;
  try { await submit(typed, body); } finally { state.submitting = false; }
});

async function submit(typed, body) {
  // The composer clears only once the outbox has the message on disk.
  if (state.editing) {
    await enqueue({ type: "edit", room: cfg.room, client_id: newClientId(), target: state.editing, body });
  } else {
    const cid = newClientId();
    const asNote = $("as-note");
    const kind = cfg.can_note && asNote && asNote.checked ? "note" : "text";
    const frame = { type: "send", room: cfg.room, client_id: cid, kind, body };
    if (state.replyTo) frame.reply_to = state.replyTo;
    const share = $("share");
    const twin = cfg.share_room && share && share.checked && kind === "text";
    if (asNote) asNote.checked = false;
    if (twin) share.checked = false;
    clearContext();
    // The family twin: sent once the team message is acked, carrying its id.
    await enqueue(frame, twin ? { type: "send", room: cfg.share_room, client_id: `${cid}.f`,
      kind: "text", body, payload: {} } : null);
  }
  if ($("body").value === typed) $("body").value = "";
  autosize();
  clearContext();
}

$("body").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && window.matchMedia("(pointer: fine)").matches) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});

$("body").addEventListener("input", () => {
  autosize();
  const now = Date.now();
  if (state.subscribed && now - state.typingSent > 2500) {
    state.typingSent = now;
    sock.send({ type: "typing", room: cfg.room });
  }
});

function autosize() {
  const t = $("body");
  t.style.height = "auto";
  t.style.height = `${Math.min(t.scrollHeight, 160)}px`;
}

function showTyping(person) {
  $("typing").textContent = `${person.name} is typing…`;
  clearTimeout(state.typingClear);
  state.typingClear = setTimeout(() => { $("typing").textContent = ""; }, 4000);
}

// ---- read state -----------------------------------------------------------------------

// Delivered: everything this page has received (on screen or not: scrolled up, in the
// background, the phone locked) — sent at once. Read: only what has been on screen in a
// visible page — the newest entry whose top is inside the message list, or everything
// when the list is at the bottom.
let readTimer = null;
function scheduleRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (!state.subscribed) return;
    if (state.lastSeq > state.deliveredSent) {
      state.deliveredSent = state.lastSeq;
      sock.send({ type: "delivered", room: cfg.room, seq: state.lastSeq });
    }
    if (document.visibilityState !== "visible") return;
    const seen = seenSeq();
    if (seen > state.readSent) {
      state.readSent = seen;
      sock.send({ type: "read", room: cfg.room, seq: seen });
    }
  }, 400);
}
document.addEventListener("visibilitychange", scheduleRead);
$("log").addEventListener("scroll", scheduleRead, { passive: true });

function seenSeq() {
  if (isNearBottom()) return state.lastSeq;
  const bottom = $("log").getBoundingClientRect().bottom;
  const items = $("messages").children;
  for (let i = items.length - 1; i >= 0; i--) {
    const seq = Number(items[i].dataset.seq);
    if (seq && items[i].getBoundingClientRect().top < bottom) return Math.min(seq, state.lastSeq);
  }
  return 0;
}

// Ticks on my messages: "sent" (stored), "delivered" (on the phone of every person who can
// see it), "some" (read by some of them), "all" (read by all of them). Who can see a
// message: the members in cfg.receipts whose history starts before it (visible_from <
// seq) — a later joiner never counts, and a member who left is not in cfg.receipts.
// Reading implies receiving.
function tickFor(seq) {
  let eligible = 0;
  let read = 0;
  let got = 0;
  for (const [pid, from] of receipts) {
    if (pid === cfg.me.id || from >= seq) continue;
    eligible += 1;
    const r = state.reads.get(pid) || 0;
    if (r >= seq) read += 1;
    if (Math.max(r, state.delivered.get(pid) || 0) >= seq) got += 1;
  }
  if (eligible === 0) return { tick: "sent", text: _("Sent") };
  if (read === eligible) return { tick: "all", text: _("Read by all") };
  if (read > 0) return { tick: "some", text: fmt(_("Read by %(read)s of %(of)s"), { read, of: eligible }) };
  if (got === eligible) return { tick: "delivered", text: _("Delivered") };
  return { tick: "sent", text: _("Sent") };
}

function updateSeen() {
  for (const [seq, { wire, li }] of state.bySeq) {
    if (!li || wire.sender.id !== cfg.me.id || !isWords(wire)) continue;
    const span = li.querySelector(".ticks");
    if (!span) continue;
    const t = tickFor(seq);
    if (span.dataset.tick === t.tick && span.title === t.text) continue;
    span.dataset.tick = t.tick;
    span.title = t.text;
    span.replaceChildren(icon(t.tick === "sent" ? "check" : "checks", { size: 18 }),
      el("span", { class: "sr-only", text: t.text }));
  }
}

// ---- check in / check out -------------------------------------------------------------

function visitButton(which) {
  const btn = $(which === "in" ? "check-in" : "check-out");
  // The words posted stay English (the visit bot reads them, bots/parse.py); each reader's
  // page shows them in their own language (wordsOf).
  const body = which === "in" ? "Check in" : "Check out";
  btn.disabled = true;
  // The tap time goes with the entry: offline, it may reach the server much later, and the
  // visit keeps this time (bounded by the server, bots/taptime.py).
  const tappedAt = new Date().toISOString();
  note(_("Getting your location…"));
  const send = (loc) => {
    const frame = { type: "send", room: cfg.room, client_id: newClientId(), kind: "text", body,
      payload: { tapped_at: tappedAt } };
    if (loc) frame.payload.location = loc;
    enqueue(frame);
    btn.disabled = false;
    showVisitState(which === "in");
    const what = which === "in" ? _("Check in") : _("Check out");
    note(loc ? fmt(_("%(what)s: location sent (accurate to ±%(m)s m)."), { what, m: Math.round(loc.accuracy) })
      : _("Location unavailable: sent without it."));
  };
  if (!navigator.geolocation) { send(null); return; }
  // A fresh position only (at most ~10 s old): a cached fix from the street outside the
  // previous visit would put the worker in the wrong place.
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      const age = Date.now() - pos.timestamp;
      if (age > POSITION_MAX_AGE_MS + 5000) { send(null); return; }
      // The fix time goes too: the server believes the position only if it was taken
      // within ~10 s of the tap (bots/geo.py), whatever this page decided.
      send({ lat: pos.coords.latitude, lon: pos.coords.longitude,
        accuracy: Math.round(pos.coords.accuracy * 10) / 10,
        fixed_at: new Date(pos.timestamp).toISOString() });
    },
    () => send(null),
    { enableHighAccuracy: true, timeout: 15000, maximumAge: POSITION_MAX_AGE_MS });
}

// Check-in/out buttons follow the visit: checked in shows "Check out", otherwise "Check in".
// The page starts from the server's answer (cfg.visit_open), my own tap switches at once,
// and the bot's notices naming me (data.worker) confirm it — also from another device.
function showVisitState(open) {
  if (!cfg.can_check_in) return;
  state.visitOpen = open;
  $("check-in").hidden = open;
  $("check-out").hidden = !open;
  $("check-in").closest(".visit-buttons").dataset.visit = open ? "in" : "out";
}

function followVisit(m) {
  const ev = (m.payload && m.payload.event) || "";
  const data = (m.payload && m.payload.data) || {};
  if (data.worker !== cfg.me.id || m.seq <= cfg.head_seq) return; // older: cfg.visit_open says
  if (ev === "visit.checked_in") showVisitState(true);
  else if (ev === "visit.checked_out") showVisitState(false);
}

if (cfg.can_check_in) {
  $("check-in").addEventListener("click", () => visitButton("in"));
  $("check-out").addEventListener("click", () => visitButton("out"));
}

// ---- raise concern --------------------------------------------------------------------

let concernFor = null;
function openConcern(m) {
  concernFor = m;
  $("concern-error").textContent = "";
  $("concern-reason").value = "";
  const about = m ? `${m.sender.id === cfg.me.id ? _("You") : m.sender.name}: ${m.body || ""}`.slice(0, 140) : "";
  $("concern-about").textContent = about ? fmt(_("About: %(what)s"), { what: about }) : "";
  $("concern-dialog").showModal();
  $("concern-reason").focus();
}

// The visible "Raise a concern" in the room's header: about the latest entry on screen
// (a person's words or a notice); the ⋯ menu raises it about one chosen message.
function latestEntry() {
  let best = null;
  for (const [seq, { wire, li }] of state.bySeq) {
    if (!li || wire.redacted || !wire.id) continue;
    if (!["text", "note", "system", "answer", "card"].includes(wire.kind)) continue;
    if (!best || seq > best.seq) best = wire;
  }
  return best;
}

$("raise-concern").addEventListener("click", () => {
  const m = latestEntry();
  if (!m) { note(_("There is nothing in this room yet to raise a concern about.")); return; }
  openConcern(m);
});

const keyInfo = $("key-info-open");
if (keyInfo) keyInfo.addEventListener("click", () => $("key-info-dialog").showModal());

$("concern-cancel").addEventListener("click", () => $("concern-dialog").close());
$("concern-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const reason = $("concern-reason").value.trim();
  if (!reason || !concernFor) { $("concern-error").textContent = _("Say why you are concerned."); return; }
  $("concern-send").disabled = true;
  try {
    const r = await fetch("/api/alerts/concerns", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ message_id: concernFor.id, reason, concern: $("concern-kind").value }),
    });
    const out = await r.json().catch(() => ({}));
    if (r.ok) {
      $("concern-dialog").close();
      note(_("Concern raised. The care manager has been alerted — see Your concerns for the outcome."));
    } else {
      $("concern-error").textContent = out.message || _("That did not work; try again.");
    }
  } catch {
    $("concern-error").textContent = _("No connection: try again when you have signal.");
  } finally {
    $("concern-send").disabled = false;
  }
});

// ---- helpers --------------------------------------------------------------------------

let noteTimer = null;
function note(text) {
  const n = $("note");
  n.textContent = text;
  clearTimeout(noteTimer);
  if (text) noteTimer = setTimeout(() => { if (n.textContent === text) n.textContent = ""; }, 6000);
}

function isNearBottom() {
  const log = $("log");
  return log.scrollHeight - log.scrollTop - log.clientHeight < 120;
}

function scrollDown(force) {
  if (!force) return;
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

onOutboxChange(() => loadOutbox().then(showConn)); // another page of this phone

loadOutbox().then((list) => {
  for (const entry of list) if (entry.frame.room === cfg.room) renderPending(entry);
  showConn();
});
setupCapture({ room: cfg.room, composer: $("composer"), body: $("body"), outbox: $("outbox"), note });
sock.start();

// Offline (or no answer from the server yet): show the last messages this phone saw here.
// The subscription then asks only for what came after them (after_seq), so nothing twice.
function showRemembered() {
  if (state.subscribed) return;
  recall(cfg.me.id, cfg.room, state.lastSeq).then((seen) => {
    if (state.subscribed) return;
    for (const m of seen) onMessage({ ...m, cached: true });
    for (const li of document.querySelectorAll("#outbox li")) $("outbox").append(li);
  });
}
if (navigator.onLine === false) showRemembered();
else setTimeout(showRemembered, 2500);
