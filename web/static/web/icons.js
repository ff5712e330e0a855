// Icons as inline SVG: they draw the same on every phone, with no emoji font installed.
// Decorative (aria-hidden); the control next to them carries the accessible name.
const NS = "http://www.w3.org/2000/svg";

// 24×24 stroke paths (drawn with currentColor, so they follow the text colour).
const PATHS = {
  pin: ["M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21z", "M12 12.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z"],
  flag: ["M5 21V4", "M5 4h11l-2 4 2 4H5"],
  home: ["M3 11l9-7 9 7", "M5 10v10h14V10", "M10 20v-5h4v5"],
  leave: ["M10 4H5v16h5", "M14 8l4 4-4 4", "M8 12h10"],
  bell: ["M6 16V11a6 6 0 0 1 12 0v5l2 2H4z", "M10 20a2 2 0 0 0 4 0"],
  reply: ["M10 8L5 12l5 4", "M5 12h9a5 5 0 0 1 5 5v1"],
  more: ["M5 12h.01", "M12 12h.01", "M19 12h.01"],
  send: ["M4 12l16-8-6 16-2-7z", "M12 13l8-9"],
  search: ["M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z", "M16 16l5 5"],
  info: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 11v6", "M12 7h.01"],
  concern: ["M12 3l10 18H2z", "M12 10v5", "M12 18h.01"],
  check: ["M4 12l5 5L20 6"],
  checks: ["M2 12l5 5L18 6", "M9 16l1 1L22 6"],
  clock: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 7v5l3 2"],
  happy: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M8 14a5 5 0 0 0 8 0", "M9 9h.01", "M15 9h.01"],
  neutral: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M8 15h8", "M9 9h.01", "M15 9h.01"],
  sad: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M8 16a5 5 0 0 1 8 0", "M9 9h.01", "M15 9h.01"],
  camera: ["M4 8h3l2-3h6l2 3h3v11H4z", "M12 16.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z"],
  dot: ["M12 17a5 5 0 1 0 0-10 5 5 0 0 0 0 10z"],
};

export function icon(name, { size = 24, className = "icon" } = {}) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", className);
  for (const d of PATHS[name] || PATHS.dot) {
    const p = document.createElementNS(NS, "path");
    p.setAttribute("d", d);
    svg.append(p);
  }
  return svg;
}

// The question bank's options name an emoji; phones without an emoji font would show a
// box, so each is drawn as the nearest of a few faces and signs.
const EMOJI_ICON = new Map([
  ...["😄", "😊", "🙂", "😌", "🌟", "👍", "✅", "🤝", "💡", "🏡", "🏠"].map((e) => [e, "happy"]),
  ...["😐", "🤷", "❓", "🌫️", "⏳", "📈"].map((e) => [e, "neutral"]),
  ...["☹️", "😔", "😟", "😢", "😣", "😖", "😮‍💨", "👎"].map((e) => [e, "sad"]),
  ...["⚠️", "🚨", "🛑", "🔶", "🚱"].map((e) => [e, "concern"]),
  ...["📞"].map((e) => [e, "bell"]),
  ...["👋", "🏁"].map((e) => [e, "leave"]),
]);

export function optionIcon(emoji) {
  return icon(EMOJI_ICON.get(emoji) || "dot", { size: 32, className: "icon option-icon" });
}
