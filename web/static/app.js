// app.js - the review console's shell: hash routing (#/messages, #/messages/ID,
// #/requests, #/audit, #/users, #/signin), the header (navigation, who is signed
// in, language switch, sign-out) and the status line. Each screen is its own module.
import * as api from "./api.js";
import { h, append } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";
import * as signin from "./signin.js";
import * as messages from "./messages.js";
import * as message from "./message.js";
import * as requests from "./requests.js";
import * as audit from "./audit.js";
import * as users from "./users.js";

// Screens by the first path segment; "messages" with an id is the message page.
const SCREENS = { signin, messages, requests, audit, users };
const NAV = [
  ["messages", "nav.messages", () => true],
  ["requests", "nav.requests", () => true],
  ["audit", "nav.audit", () => true],
  ["users", "nav.users", api.isAdmin],
];

let renderSeq = 0;
let afterSignIn = "#/messages";
let keepStatus = false;

// A path segment decoded; as it is when malformed (a link "#/messages/%E0" must not stop the
// page).
function decodeSeg(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return s;
  }
}

// The current route: {name, id, query (URLSearchParams)}.
function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, qs] = hash.split("?", 2);
  const segs = path.split("/").filter(Boolean).map(decodeSeg);
  return { name: segs[0] || "messages", id: segs[1] || null, query: new URLSearchParams(qs || "") };
}

// Show text (or nodes) in the status line; kind is "ok", "error" or "info".
export function notify(kind, ...content) {
  const el = document.getElementById("status");
  el.replaceChildren();
  el.className = "status " + (kind || "");
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  append(el, content);
}

// Show a status that stays through the next navigation (e.g. "session expired").
export function notifyNext(kind, ...content) {
  notify(kind, content);
  keepStatus = true;
}

// Empty the status line after a navigation, unless a status asked to stay.
function clearStatus() {
  if (keepStatus) keepStatus = false;
  else notify("");
}

// Navigate to a hash; re-renders even when it is the current one.
export function go(hash) {
  if (location.hash === hash) render(true);
  else location.hash = hash;
}

// Redraw the header for the current session and language.
function drawHeader(current) {
  const s = api.session.current;
  document.title = t("title");
  document.documentElement.lang = lang();
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("nav.label"));
  nav.replaceChildren();
  const who = document.getElementById("who");
  who.replaceChildren();
  if (s) {
    for (const [name, key, allowed] of NAV)
      if (allowed())
        nav.append(h("a", { href: "#/" + name, "aria-current": name === current ? "page" : null }, t(key)));
    who.append(h("span", null, t("who", { user: s.user, role: t("role." + s.role) })), " ",
      h("button", { type: "button", class: "link", onclick: signOut }, t("signout")));
  }
  const sw = document.getElementById("lang");
  sw.textContent = lang() === "ja" ? "English" : "日本語";
  sw.setAttribute("lang", lang() === "ja" ? "en" : "ja");
  sw.setAttribute("aria-label", t("lang.switch"));
}

// Sign out and return to the sign-in form.
async function signOut() {
  try {
    await api.logout();
  } catch (e) {
    // Signed out locally either way.
  }
  afterSignIn = "#/messages";
  notifyNext("info", t("signedout"));
  location.hash = "#/signin";
}

// Render the current route into <main>; a newer navigation discards an older render.
// After a navigation (focus true) the new screen gets the focus, for screen readers.
export async function render(focus) {
  const seq = ++renderSeq;
  const r = route();
  if (!api.session.current && r.name !== "signin") {
    afterSignIn = location.hash || "#/messages";
    location.hash = "#/signin";
    return;
  }
  const screen = r.name === "messages" && r.id ? message : SCREENS[r.name];
  drawHeader(r.name);
  const main = document.getElementById("main");
  const ctx = { route: r, go, notify, notifyNext, reload: () => render(false),
    signedIn: () => go(afterSignIn === "#/signin" ? "#/messages" : afterSignIn) };
  if (!screen) {
    main.replaceChildren(h("h1", null, t("notfound")));
    return;
  }
  main.setAttribute("aria-busy", "true");
  try {
    const node = await screen.render(ctx);
    if (seq !== renderSeq) return;
    main.replaceChildren(node);
    if (focus) main.focus();
  } catch (e) {
    if (seq !== renderSeq || e.status === 401) return;
    main.replaceChildren(h("h1", null, t("failed")), h("p", { class: "note error", role: "alert" }, e.message));
  } finally {
    if (seq === renderSeq) main.removeAttribute("aria-busy");
  }
}

// A 401 anywhere: back to the sign-in form, then to where the user was.
function unauthorized() {
  if (route().name === "signin") return;
  afterSignIn = location.hash || "#/messages";
  notifyNext("error", t("expired"));
  location.hash = "#/signin";
}

// Start: find an existing session, then follow the hash.
async function start() {
  document.getElementById("main").replaceChildren(h("p", null, t("loading")));
  document.getElementById("lang").addEventListener("click", () => {
    setLang(lang() === "ja" ? "en" : "ja");
    render();
  });
  window.addEventListener("hashchange", () => {
    clearStatus();
    render(true);
  });
  try {
    await api.me();
  } catch (e) {
    // Not signed in: render() sends us to the sign-in form.
  }
  api.setUnauthorizedHandler(unauthorized);
  if (!location.hash) location.hash = api.session.current ? "#/messages" : "#/signin";
  else render();
}

start();
