// dom.js - the page's only way of making elements. Every string from the server
// (subjects, file names, addresses, reasons, header values) ends up in a text node
// or an attribute value, never parsed as HTML: no string is ever handed to the
// HTML parser (no markup properties, no document writes).
import { lang, t } from "./i18n.js";

// Properties set directly rather than as attributes (they reflect live state).
const PROPS = new Set(["value", "checked", "disabled", "selected", "required", "multiple"]);

// Invisible characters that reorder or hide text (bidi overrides and isolates, other format
// characters, controls but TAB/LF/CR, line and paragraph separators), as mugai-quarantine
// shows them: a sender's "evil\u202Efdp.exe@x" would otherwise read "evilexe.pdf@x".
// ZWNJ and ZWJ shape scripts and emoji and reorder nothing; they stay.
const UNSAFE = /(?![\u200C\u200D\t\n\r])[\p{Cc}\p{Cf}\u2028\u2029]/gu;

// s as shown: each such character replaced by U+FFFD, visibly.
export function shown(s) {
  return s.replace(UNSAFE, "\uFFFD");
}

// Append children to el: nodes as they are, anything else as text (see shown).
export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(shown(String(c))));
  }
  return el;
}

// Make an element: h("a", {href: "#/x", class: "c", onclick: fn}, "text", child...).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  return append(el, children);
}

// The link to a message's page.
export function messageHref(id) {
  return "#/messages/" + encodeURIComponent(id);
}

// A labelled input: {id, label, type, value, ...attrs} -> <div class="field"><label><input></div>.
export function field(label, attrs) {
  const input = h(attrs.tag || "input", { ...attrs, tag: null });
  return { input, node: h("div", { class: "field" }, h("label", { for: attrs.id }, label), input) };
}

// A <select> with [value, label] options and one selected.
export function select(attrs, options, current) {
  const sel = h("select", attrs);
  for (const [value, label] of options)
    sel.append(h("option", { value, selected: String(current ?? "") === value }, label));
  return sel;
}

// A local date and time for unix seconds, in the page's language.
export function fmtTime(secs) {
  if (!secs) return "";
  const d = new Date(secs * 1000);
  return d.toLocaleString(lang() === "ja" ? "ja-JP" : "en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

// A <time> element for an object's time and its ISO string.
export function timeEl(secs, iso) {
  return h("time", { datetime: iso || null, title: iso || null }, fmtTime(secs));
}

// Bytes as a short human figure.
export function fmtSize(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return t("bytes", { n });
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

// A list of addresses (array or comma-separated string) as one line.
export function addrs(v) {
  if (!v) return "";
  return Array.isArray(v) ? v.join(", ") : String(v);
}

// A table: headers are labels, rows are arrays of cells (strings or nodes).
export function table(caption, headers, rows, cls) {
  return h("table", { class: cls || null },
    caption ? h("caption", null, caption) : null,
    h("thead", null, h("tr", null, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", null, rows.map((r) => h("tr", r.attrs || null, (r.cells || r).map((c) => h("td", null, c))))));
}

// A definition list from [label, value] pairs, skipping empty values.
export function dl(pairs) {
  const el = h("dl", { class: "facts" });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    el.append(h("dt", null, k), h("dd", null, v));
  }
  return el;
}

// A message box for an error or a result inside a screen.
export function note(kind, ...children) {
  return h("p", { class: "note " + kind, role: kind === "error" ? "alert" : "status" }, children);
}
