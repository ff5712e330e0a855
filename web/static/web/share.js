// The invitation link a manager just created: share it (Web Share API: the phone's own
// share sheet, e.g. to a text message) or copy it. The link is shown once and never
// stored anywhere else by this page.
import { _ } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const input = $("invite-link");
const status = $("invite-share-status");
const shareBtn = $("invite-share");

function say(text) { status.textContent = text; }

async function copy() {
  try {
    await navigator.clipboard.writeText(input.value);
    say(_("Link copied. Paste it into a message to them."));
    return;
  } catch { /* no clipboard permission or not a secure context: fall back */ }
  input.focus();
  input.select();
  // execCommand is deprecated but is the only copy left where the Clipboard API is refused.
  const ok = document.execCommand && document.execCommand("copy");
  say(ok ? _("Link copied. Paste it into a message to them.") : _("Select the link above and copy it."));
}

if (input) {
  $("invite-copy").addEventListener("click", copy);
  const data = { title: shareBtn.dataset.title, url: input.value };
  if (navigator.share && (!navigator.canShare || navigator.canShare(data))) {
    shareBtn.hidden = false;
    shareBtn.addEventListener("click", async () => {
      try {
        await navigator.share(data);
        say(_("Shared."));
      } catch (err) {
        if (err && err.name === "AbortError") return; // the person closed the share sheet
        await copy();
      }
    });
  }
}
