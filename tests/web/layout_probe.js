// Measures the room page as a person meets it (tests/web/test_browser_group_chat.py):
// the list's height, whether the composer is in view, tap targets under 44 px, visible
// text under 4.5:1 contrast against its background, emoji glyphs, sideways overflow.
() => {
  const r = (sel) => { const e = document.querySelector(sel); return e ? e.getBoundingClientRect() : null; };
  const log = r('#log'), composer = r('#composer'), send = r('#composer .send');
  const visible = (e) => { const b = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return b.width > 0 && b.height > 0 && s.visibility !== 'hidden' && b.bottom > 0 && b.right > 0
      && b.top < innerHeight && b.left < innerWidth; };
  const small = [];
  const targets = document.querySelectorAll(
    'button, a[href], select, textarea, input:not([type=checkbox]):not([type=radio]), label.toggle, label.camera, summary');
  for (const e of targets) {
    // A visually hidden input (the camera's file input) is tapped through its label, measured instead.
    if (!visible(e) || e.closest('dialog:not([open])') || e.closest('.menu[hidden]') || e.matches('.sr-only')) continue;
    const b = e.getBoundingClientRect();
    if (b.width < 44 || b.height < 44) small.push(`${e.tagName} ${e.id || e.className || e.textContent.trim().slice(0, 20)} ${Math.round(b.width)}x${Math.round(b.height)}`);
  }
  const lum = (c) => { const m = c.match(/[\d.]+/g).map(Number); const ch = m.slice(0, 3).map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]; };
  const bg = (e) => { for (let n = e; n; n = n.parentElement) { const c = getComputedStyle(n).backgroundColor;
    const m = c.match(/[\d.]+/g); if (m && (m.length < 4 || Number(m[3]) > 0.5)) return c; } return 'rgb(255,255,255)'; };
  const lowContrast = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let emoji = 0;
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const text = t.textContent.trim(); const e = t.parentElement;
    if (!text || !e || !visible(e) || e.closest('.sr-only, script, dialog:not([open])')) continue;
    if (/\p{Extended_Pictographic}/u.test(text)) emoji += 1;
    const s = getComputedStyle(e); if (Number(s.opacity) < 1 || e.closest('[disabled]')) continue;
    const a = lum(s.color), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) lowContrast.push(`${text.slice(0, 30)} ${ratio.toFixed(2)}`);
  }
  const wide = [];
  for (const e of document.body.querySelectorAll('*')) {
    const b = e.getBoundingClientRect();
    if (b.right > document.documentElement.clientWidth + 1 && b.width > 0 && !e.closest('.sr-only, .skip, .tabs, .top nav'))
      wide.push(`${e.tagName}.${e.className || e.id} ${Math.round(b.left)}-${Math.round(b.right)}`);
  }
  return { wide: wide.slice(0, 8), logH: log.height, composerTop: composer.top, composerBottom: composer.bottom,
    sendBottom: send.bottom, innerH: innerHeight, small, lowContrast, emoji,
    scrollW: document.documentElement.scrollWidth, innerW: innerWidth };
}
