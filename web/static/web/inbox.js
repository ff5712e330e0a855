// The live alert inbox. The list is read from the database (GET /api/alerts); the socket
// only says "something changed" ({"type": "alert", ...} person events), so a lost hint
// costs nothing: every (re)connect refreshes too. Text is set with textContent only.
import { Socket, csrfToken, el, timeOf } from "./socket.js";

const cfg = JSON.parse(document.getElementById("inbox-config").textContent);
const $ = (id) => document.getElementById(id);
let known = new Set(cfg.initial);
let refreshing = null;

async function refresh(announce) {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const r = await fetch("/api/alerts?state=unresolved", { credentials: "same-origin" });
      if (!r.ok) return;
      render(await r.json(), announce);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function render(alerts, announce) {
  const list = $("alerts");
  list.textContent = "";
  $("empty").hidden = alerts.length > 0;
  const fresh = alerts.filter((a) => !known.has(a.id));
  for (const a of alerts) list.append(item(a, !known.has(a.id)));
  if (announce && fresh.length) {
    $("live").textContent = fresh.length === 1
      ? `New alert: ${fresh[0].name}, ${fresh[0].label}`
      : `${fresh.length} new alerts`;
  }
  known = new Set(alerts.map((a) => a.id));
}

function item(a, isNew) {
  const li = el("li", { class: `alert-item sev-${a.severity} state-${a.state}${isNew ? " new" : ""}`,
    dataset: { alert: a.id } });
  li.append(
    el("a", { href: `/alerts/${a.id}/`, class: "alert-link" },
      el("span", { class: "name", text: a.name }),
      el("span", { class: "label", text: a.label })),
    el("span", { class: "meta small" },
      el("span", { class: `badge sev-${a.severity}`, text: a.severity }),
      el("span", { class: "badge state", text: a.state }),
      a.escalated_to_council ? el("span", { class: "badge", text: "council" }) : null,
      el("time", { datetime: a.opened_at, text: ` opened ${timeOf(a.opened_at)}` })),
  );
  if (cfg.can_manage && a.state === "open") {
    li.append(el("form", { method: "post", action: `/alerts/${a.id}/ack`, class: "inline" },
      el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrfToken() }),
      el("input", { type: "hidden", name: "next", value: "/alerts/" }),
      el("button", { type: "submit", class: "primary", text: "Acknowledge",
        "aria-label": `Acknowledge alert for ${a.name}: ${a.label}` })));
  }
  return li;
}

const sock = new Socket({
  onFrame: (f) => {
    if (f.type === "hello") refresh(false);
    else if (f.type === "alert") refresh(true);
  },
  onState: (s) => {
    $("conn").textContent = s === "online" ? "" : s === "offline" ? "You're offline." : "Reconnecting…";
  },
});
sock.start();
