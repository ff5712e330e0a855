// The person's own language on the page (docs/decisions.md "Language per person").
//
// Django's JavaScriptCatalog (/jsi18n/, loaded before the page's modules) defines
// gettext/pgettext/ngettext in the person's language; without it (offline before it
// loaded, or a page that does not load it) the English text stands, so a missing
// catalogue never hides a word. Placeholders are named, %(name)s, so a translation can
// put them in its own order.
const w = typeof window === "undefined" ? {} : window;

export const _ = (s) => (typeof w.gettext === "function" ? w.gettext(s) : s);
export const pgettext = (ctx, s) => (typeof w.pgettext === "function" ? w.pgettext(ctx, s) : s);
export const ngettext = (one, many, n) =>
  typeof w.ngettext === "function" ? w.ngettext(one, many, n) : n === 1 ? one : many;
export const fmt = (s, obj) => s.replace(/%\((\w+)\)s/g, (all, k) => (k in obj ? String(obj[k]) : all));
