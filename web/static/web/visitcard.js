// The visit's tasks card and its medicines (docs/visit-record.md "The tasks card").
//
// The bot posts one `visit_tasks` card in the team room after check-in. Here it becomes a
// checklist: each task has Done / Not done, and Not done opens the reasons from
// careplan/rules.py (served by the visit record API) — one tap each. Doses due in the
// visit are listed under the tasks with Given / Refused / Not given (+ reason).
//
// Guarantees kept here:
// - Every tap is a POST to /api/careplan/visits/<id>/{tasks,doses} with a client id made
//   once per tap and kept in a localStorage queue until the server answers; a retry after a
//   lost connection sends the same client id, so the server stores it once.
// - As-needed doses: "Give…" asks why (required) before Given; the server enforces the
//   24-hour maximum and the minimum interval and the refusal is shown on the row.
// - A `visit.dose_due` notice (a dose falling due later in the visit) redraws the card.
// - Medicines are only ever fetched and drawn in the team room: the card is posted there
//   only, and this module refuses to draw medicines in any other room (`teamRoom`).
// - What is shown comes from the server's answers (the record, then each POST's reply);
//   user data is set with textContent only (el()).
import { csrfToken, el, newClientId } from "./socket.js";
import { _, fmt, ngettext, pgettext } from "./i18n.js";

const RETRY_MS = 4000;
const OUTCOME_LABEL = () => ({ given: _("Given"), refused: _("Refused"), not_given: _("Not given"), missed: _("Missed") });
const SAVING = () => _(" (saving…)");

// The card's title is posted once, in English, by the bot ("Morning visit: 3 tasks — tap
// each one when done"); each reader's page says it in their own language. The visit
// type's name is the plan's (a default name is translated, a manager's own label is not).
const TITLE = /^(.+) visit: (\d+) tasks? — tap each one when done$/;
// The default visit types' names (careplan/rules.py DEFAULT_VISIT_TYPES, capitalised).
const VISIT_TYPES = () => ({
  Morning: pgettext("visit type", "Morning"), Lunch: pgettext("visit type", "Lunch"),
  Tea: pgettext("visit type", "Tea"), Bed: pgettext("visit type", "Bed"),
});
function cardTitle(title) {
  const m = TITLE.exec(title || "");
  if (!m) return title || _("Visit tasks");
  const n = Number(m[2]);
  return fmt(ngettext("%(visit)s visit: %(n)s task — tap each one when done",
    "%(visit)s visit: %(n)s tasks — tap each one when done", n), { visit: VISIT_TYPES()[m[1]] || m[1], n });
}

export function createVisitCards({ me, teamRoom, canRecord, note }) {
  const queueKey = `cocare.visitrecord.${me}`;
  const cards = new Map(); // card_id -> card state
  let retryTimer = null;

  const loadQueue = () => { try { return JSON.parse(localStorage.getItem(queueKey)) || []; } catch { return []; } };
  const saveQueue = (q) => localStorage.setItem(queueKey, JSON.stringify(q));

  // ---- rendering --------------------------------------------------------------------

  function render(m) {
    const p = m.payload || {};
    const data = p.data || {};
    const labels = new Map((p.options || []).map((o) => [o.value, o.label]));
    const li = el("li", { class: "card visit-card", dataset: { seq: m.seq, card: p.card_id, visit: data.visit } });
    const hid = `vc-${m.seq}`;
    li.append(el("h3", { id: hid, text: cardTitle(p.title) }));
    const list = el("ul", { class: "vc-tasks", "aria-labelledby": hid });
    const card = { li, visit: data.visit, tasks: new Map(), doses: null, reasons: data.not_done_reasons || {}, doseReasons: {}, prnRefused: new Map() };
    for (const t of data.tasks || []) {
      const row = taskRow(card, t, labels.get(t.value) || fmt(_("Task %(n)s"), { n: t.value + 1 }));
      list.append(row.li);
    }
    li.append(list);
    card.doses = el("div", { class: "vc-doses" });
    li.append(card.doses);
    cards.set(p.card_id, card);
    if (data.visit) refresh(card);
    return li;
  }

  function taskRow(card, t, label) {
    const li = el("li", { class: "vc-task", dataset: { task: t.id } });
    const status = el("span", { class: "vc-status small", role: "status" });
    const done = el("button", { type: "button", class: "vc-done", "aria-pressed": "false", disabled: !canRecord, text: _("Done") });
    const notDone = el("button", { type: "button", class: "vc-notdone", "aria-pressed": "false", "aria-expanded": "false", disabled: !canRecord, text: _("Not done") });
    const reasons = el("div", { class: "vc-reasons", role: "group", "aria-label": fmt(_("Why was “%(task)s” not done?"), { task: label }), hidden: true });
    for (const [key, text] of Object.entries(card.reasons)) {
      reasons.append(el("button", { type: "button", class: "vc-reason", dataset: { reason: key }, text,
        onclick: () => { reasons.hidden = true; notDone.setAttribute("aria-expanded", "false");
          record(card, "tasks", { task: t.id, done: false, reason: key }, row); } }));
    }
    done.addEventListener("click", () => { reasons.hidden = true; record(card, "tasks", { task: t.id, done: true }, row); });
    notDone.addEventListener("click", () => {
      reasons.hidden = !reasons.hidden;
      notDone.setAttribute("aria-expanded", String(!reasons.hidden));
      if (!reasons.hidden) reasons.scrollIntoView({ block: "nearest" });
    });
    li.append(el("span", { class: "vc-label", text: label }), el("div", { class: "vc-buttons", role: "group", "aria-label": label }, done, notDone), reasons, status);
    const row = { li, done, notDone, status, label,
      show(rec, pending = false) {
        li.classList.toggle("is-done", !!rec && rec.done);
        li.classList.toggle("is-notdone", !!rec && !rec.done);
        done.setAttribute("aria-pressed", String(!!rec && rec.done));
        notDone.setAttribute("aria-pressed", String(!!rec && !rec.done));
        const why = rec && !rec.done ? ` — ${card.reasons[rec.reason] || rec.reason}` : "";
        status.textContent = rec ? `${rec.done ? _("✓ Done") : _("✗ Not done")}${why}${pending ? SAVING() : ""}` : "";
      } };
    card.tasks.set(t.id, row);
    return row;
  }

  function drawDoses(card, rec) {
    card.doseReasons = rec.dose_reasons || {};
    card.doses.replaceChildren();
    card.rows = new Map();
    if (!teamRoom) return;
    drawDue(card, rec);
    drawPrn(card, rec);
  }

  // As-needed medicines: "Give…" opens one line for why it was needed (required), then
  // Given. The server keeps the 24-hour maximum and the minimum interval (a refusal says
  // when the next dose is possible); the doses given in this visit are listed.
  function drawPrn(card, rec) {
    const meds = rec.as_needed || [];
    if (!meds.length || !rec.open) return;
    const hid = `vcp-${card.visit}`;
    card.doses.append(el("h4", { id: hid, text: _("As needed") }));
    const list = el("ul", { class: "vc-tasks", "aria-labelledby": hid });
    const given = rec.as_needed_records || [];
    for (const m of meds) {
      const label = `${m.name} — ${m.dose}`;
      const li = el("li", { class: "vc-task vc-prn", dataset: { medicine: m.medicine } });
      const status = el("span", { class: "vc-status small", role: "status" });
      const why = el("input", { type: "text", class: "vc-prn-why", maxlength: "200", required: true,
        "aria-label": fmt(_("Why was %(medicine)s needed?"), { medicine: m.name }), placeholder: _("Why was it needed?") });
      const form = el("form", { class: "vc-prn-form", hidden: true },
        why, el("button", { type: "submit", class: "vc-prn-given", text: _("Given") }));
      const open = el("button", { type: "button", class: "vc-prn-open", "aria-expanded": "false",
        disabled: !canRecord, text: _("Give…") });
      open.addEventListener("click", () => {
        form.hidden = !form.hidden;
        open.setAttribute("aria-expanded", String(!form.hidden));
        if (!form.hidden) why.focus();
      });
      const row = { li, status, label, show(r, pending = false) {
        status.textContent = r ? `${_("Given")}${r.prn_reason ? ` — ${r.prn_reason}` : ""}${pending ? SAVING() : ""}` : "";
        if (r && !pending) { form.hidden = true; why.value = ""; open.setAttribute("aria-expanded", "false"); }
      } };
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const reason = why.value.trim();
        if (!reason) { why.reportValidity(); return; }
        record(card, "doses", { medicine: m.medicine, outcome: "given", prn_reason: reason }, row);
      });
      const rule = fmt(_("at most %(max)s in 24 h, %(gap)s min apart"), { max: m.max_doses_24h, gap: m.min_interval_minutes });
      const mine = given.filter((r) => r.medicine === m.medicine);
      li.append(el("span", { class: "vc-label" }, label, el("span", { class: "small muted", text: ` (${rule})` })),
        el("div", { class: "vc-buttons", role: "group", "aria-label": label }, open), form, status);
      if (mine.length) row.show(mine[mine.length - 1]);
      const refused = card.prnRefused.get(m.medicine);
      if (refused) status.textContent = refused; // kept across the redraw that follows it
      list.append(li);
      card.rows.set(`prn:${m.medicine}`, row);
    }
    card.doses.append(list);
  }

  function drawDue(card, rec) {
    if (!(rec.doses_due || []).length) return;
    const hid = `vcd-${card.visit}`;
    card.doses.append(el("h4", { id: hid, text: _("Medicines due") }));
    const list = el("ul", { class: "vc-tasks", "aria-labelledby": hid });
    for (const d of rec.doses_due) {
      const label = `${d.time} ${d.name} — ${d.dose}${d.time_critical ? ` (${_("time-critical")})` : ""}`;
      const li = el("li", { class: "vc-task vc-dose", dataset: { medicine: d.medicine, scheduled: d.scheduled_for } });
      const status = el("span", { class: "vc-status small", role: "status" });
      const reasons = el("div", { class: "vc-reasons", role: "group", hidden: true });
      const buttons = el("div", { class: "vc-buttons three", role: "group", "aria-label": label });
      const body = (outcome, reason) => ({ medicine: d.medicine, scheduled_for: d.scheduled_for, outcome, ...(reason ? { reason } : {}) });
      const row = { li, status, label, show(r, pending = false) {
        li.classList.toggle("is-done", !!r && r.outcome === "given");
        li.classList.toggle("is-notdone", !!r && r.outcome !== "given");
        const why = r && r.reason ? ` — ${card.doseReasons[r.reason] || r.reason}` : "";
        status.textContent = r ? `${OUTCOME_LABEL()[r.outcome] || r.outcome}${why}${pending ? SAVING() : ""}` : "";
        for (const b of buttons.children) {
          b.setAttribute("aria-pressed", String(!!r && b.dataset.outcome === r.outcome));
          if (r && !pending) b.disabled = true; // a MAR entry is not overwritten
        }
        if (r && !pending) reasons.hidden = true;
      } };
      const openReasons = (outcome) => {
        reasons.replaceChildren();
        reasons.setAttribute("aria-label", fmt(outcome === "refused" ? _("Why was %(time)s %(medicine)s refused?")
          : _("Why was %(time)s %(medicine)s not given?"), { time: d.time, medicine: d.name }));
        for (const [key, text] of Object.entries(card.doseReasons)) {
          if (key === "other") continue; // needs a written note: not a one-tap answer
          reasons.append(el("button", { type: "button", class: "vc-reason", dataset: { reason: key }, text,
            onclick: () => record(card, "doses", body(outcome, key), row) }));
        }
        for (const b of buttons.children) b.setAttribute("aria-pressed", String(b.dataset.outcome === outcome));
        reasons.hidden = false;
        reasons.scrollIntoView({ block: "nearest" });
      };
      buttons.append(
        el("button", { type: "button", dataset: { outcome: "given" }, disabled: !canRecord, text: _("Given"),
          onclick: () => { reasons.hidden = true; record(card, "doses", body("given"), row); } }),
        el("button", { type: "button", dataset: { outcome: "refused" }, disabled: !canRecord, text: _("Refused"),
          onclick: () => openReasons("refused") }),
        el("button", { type: "button", dataset: { outcome: "not_given" }, disabled: !canRecord, text: _("Not given"),
          onclick: () => openReasons("not_given") }));
      li.append(el("span", { class: "vc-label" }, `${d.time} ${d.name} — ${d.dose}`,
        d.time_critical ? el("strong", { class: "vc-critical", text: ` · ${_("time-critical")}` }) : null),
      buttons, reasons, status);
      if (d.record) row.show(d.record);
      list.append(li);
      card.rows.set(`${d.medicine}@${d.scheduled_for}`, row);
    }
    card.doses.append(list);
  }

  async function refresh(card) {
    try {
      const r = await fetch(`/api/careplan/visits/${card.visit}/record`, { credentials: "same-origin" });
      if (!r.ok) return; // not a reader of this record: the card stays a plain list
      const rec = await r.json();
      // The record's reasons are in the reader's language (the card's are the bot's English).
      if (rec.not_done_reasons) {
        card.reasons = rec.not_done_reasons;
        for (const b of card.li.querySelectorAll(".vc-task[data-task] .vc-reason")) {
          if (card.reasons[b.dataset.reason]) b.textContent = card.reasons[b.dataset.reason];
        }
      }
      for (const t of rec.tasks || []) {
        const row = card.tasks.get(t.id);
        if (row && t.record) row.show(t.record);
      }
      drawDoses(card, rec);
      for (const q of loadQueue()) showPending(q);
    } catch { /* offline: the taps still queue */ }
  }

  // ---- recording --------------------------------------------------------------------

  function rowFor(q) {
    const card = [...cards.values()].find((c) => c.visit === q.visit);
    if (!card) return null;
    if (q.what === "tasks") return card.tasks.get(q.body.task) || null;
    const k = q.body.scheduled_for ? `${q.body.medicine}@${q.body.scheduled_for}` : `prn:${q.body.medicine}`;
    return (card.rows && card.rows.get(k)) || null;
  }

  function showPending(q) {
    const row = rowFor(q);
    if (!row) return;
    if (q.what === "tasks") row.show({ done: q.body.done, reason: q.body.reason }, true);
    else row.show({ outcome: q.body.outcome, reason: q.body.reason, prn_reason: q.body.prn_reason }, true);
  }

  function record(card, what, body, row) {
    const q = { cid: newClientId(), visit: card.visit, what, body };
    // A newer tap on the same task replaces an unsent older one (the last tap wins).
    const queue = loadQueue().filter((o) => !(o.visit === q.visit && o.what === what
      && JSON.stringify(key(o)) === JSON.stringify(key(q))));
    queue.push(q);
    saveQueue(queue);
    row.show(what === "tasks" ? { done: body.done, reason: body.reason }
      : { outcome: body.outcome, reason: body.reason, prn_reason: body.prn_reason }, true);
    flush();
  }

  const key = (q) => (q.what === "tasks" ? [q.body.task] : [q.body.medicine, q.body.scheduled_for]);

  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    let again = false;
    try {
      for (const q of loadQueue()) {
        let r;
        try {
          r = await fetch(`/api/careplan/visits/${q.visit}/${q.what}`, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
            body: JSON.stringify({ client_id: q.cid, ...q.body }),
          });
        } catch { again = true; break; } // offline: keep the queue, same client ids later
        if (r.status >= 500 || r.status === 429) { again = true; break; }
        const out = await r.json().catch(() => ({}));
        saveQueue(loadQueue().filter((o) => o.cid !== q.cid));
        const row = rowFor(q);
        const card = [...cards.values()].find((c) => c.visit === q.visit);
        const prn = q.what === "doses" && !q.body.scheduled_for;
        if (r.ok) {
          if (card && prn) card.prnRefused.delete(q.body.medicine);
          if (row) row.show(out);
          continue;
        }
        // Refused for good (404 after the visit, 409 already recorded or an as-needed
        // dose over its limits, 422): say so on the row and in the page's note.
        const why = fmt(_("Not recorded: %(why)s"), { why: out.message || _("refused") });
        if (row) row.status.textContent = why;
        if (card && prn) card.prnRefused.set(q.body.medicine, why);
        note(why);
        if (card) refresh(card);
      }
    } finally {
      flushing = false;
    }
    clearTimeout(retryTimer);
    if (again) retryTimer = setTimeout(flush, RETRY_MS);
  }

  // A tap on the card that arrived as an answer (e.g. a Matrix poll response): task i done.
  function onAnswer(m) {
    const p = m.payload || {};
    const card = cards.get(p.card_id);
    if (!card) return false;
    refresh(card);
    return true;
  }

  // A dose falling due later in the visit (careplan/prompts.py posts a generic notice):
  // redraw that visit's medicines so the due dose can be recorded.
  function onDosePrompt(m) {
    const visit = ((m.payload || {}).data || {}).visit;
    for (const card of cards.values()) if (card.visit === visit) refresh(card);
  }

  window.addEventListener("online", flush);
  if (loadQueue().length) flush();
  return { render, onAnswer, onDosePrompt, has: (cardId) => cards.has(cardId) };
}
