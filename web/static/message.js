// message.js - one stored message as the store recorded it: envelope, decoded
// headers, every part and its fate, its held encrypted attachments, the text the
// recipients received, its requests and history; the requests the signed-in role
// may make, and the password that opens a held attachment (handed to the gateway,
// kept nowhere in the page). Every value shown came from the sender's side of the
// gateway and is set as text only.
import * as api from "./api.js";
import { h, field, select, table, dl, timeEl, fmtSize, addrs, messageHref, note } from "./dom.js";
import { t } from "./i18n.js";
import { requestTable, announce } from "./reqview.js";

// The envelope and the store's facts about the message.
function envelope(m) {
  return dl([
    [t("msg.id"), h("span", { class: "mono" }, m.id)],
    [t("msg.time"), timeEl(m.time, m.time_iso)],
    [t("msg.sender"), m.sender || t("nullsender")],
    [t("msg.recipients"), addrs(m.recipients)],
    [t("msg.from"), m.from],
    [t("msg.subject"), m.subject],
    [t("msg.messageId"), m.message_id],
    [t("msg.queueId"), m.queue_id],
    [t("msg.client"), m.client],
    [t("msg.size"), fmtSize(m.size)],
    [t("msg.sha256"), m.sha256 ? h("span", { class: "mono" }, m.sha256) : null],
    [t("msg.verdict"), h("span", { class: "tag v-" + m.verdict }, t("verdict." + m.verdict))],
    [t("msg.status"), h("span", { class: "tag s-" + m.status, id: "msg-status" }, t("status." + m.status))],
    [t("msg.expires"), m.expires ? timeEl(m.expires, m.expires_iso) : null],
    [t("msg.releaseResult"), m.release_result ? h("span", { class: "mono", id: "release-result" }, m.release_result) : null],
  ]);
}

// The decoded top-level headers.
function headers(m) {
  const hs = m.headers || [];
  if (!hs.length) return note("info", t("msg.noHeaders"));
  return h("div", { class: "scroll" }, table(null, [t("msg.hname"), t("msg.hvalue")],
    hs.map((x) => [h("span", { class: "mono" }, x.name), x.value]), "headers"));
}

// Every part with its declared and detected type and what the gateway did with it.
function parts(m) {
  const ps = m.parts || [];
  if (!ps.length) return note("info", t("msg.noParts"));
  const head = [t("part.path"), t("part.filename"), t("part.declared"), t("part.detected"), t("part.size"),
    t("part.action"), t("part.reason"), t("part.signature"), t("part.sha256")];
  const rows = ps.map((p) => [p.path, h("span", { class: "filename" }, p.filename || ""),
    p.declared_type || "", p.detected_type || "", h("span", { class: "num" }, fmtSize(p.size)),
    h("span", { class: "tag p-" + p.action }, t("partaction." + p.action)), p.reason || "",
    p.signature ? h("strong", { class: "signature" }, p.signature) : "",
    p.sha256 ? h("span", { class: "mono hash", title: p.sha256 }, p.sha256.slice(0, 16) + "…") : ""]);
  return h("div", { class: "scroll" }, table(null, head, rows, "parts"));
}

// The text saying what became of one held part the gateway tried.
function unlockText(p) {
  if (p.opened) return note("ok", t("held.opened", { part: p.part }));
  if (p.locked) return note("error", t("held.locked", { part: p.part }));
  if (p.tried) return note("error", t("held.wrong", { part: p.part, n: p.attempts }));
  return note("error", t("held.notOpened", { part: p.part, why: p.why || "" }));
}

// Hand the password typed in f to the gateway for part p of m; say what became of it. The
// field is emptied whatever the answer.
async function sendUnlock(ev, m, p, f) {
  ev.preventDefault();
  f.out.replaceChildren();
  const password = f.password.value;
  f.password.value = "";
  if (!password) return f.out.append(note("error", t("held.empty")));
  f.button.disabled = true;
  try {
    const r = await api.post("messages/" + encodeURIComponent(m.id) + "/unlock", { part: p.part, password });
    const mine = (r.parts || []).filter((x) => x.part === p.part);
    f.out.append(...mine.map(unlockText));
    f.button.disabled = mine.some((x) => x.opened);
  } catch (e) {
    if (e.status !== 401) f.out.append(note("error", t("error", { msg: e.message })));
    f.button.disabled = false;
  }
}

// The password form of a held part that can still be opened (pending, or locked: IT opens
// those too), for a reviewer or an admin. The field has no name, so that no form submission
// the page does not make itself could carry it (into a URL, a history, a log), and asks for
// a new password, so that the browser never fills in the console's own saved sign-in.
function unlockForm(m, p, i) {
  if (!api.canRequest() || (p.status !== "pending" && p.status !== "locked")) return null;
  const pw = field(t("held.password", { part: p.part, name: p.filename || "" }),
    { id: "unlock-pw-" + i, type: "password", autocomplete: "new-password", maxlength: 512 });
  const button = h("button", { type: "submit", id: "unlock-submit-" + i }, t("held.open"));
  const out = h("div", { class: "out", id: "unlock-out-" + i });
  const form = h("form", { class: "unlock", id: "unlock-form-" + i, method: "post", autocomplete: "off" },
    pw.node, h("div", { class: "buttons" }, button), out);
  const f = { password: pw.input, button, out };
  form.addEventListener("submit", (ev) => sendUnlock(ev, m, p, f));
  return form;
}

// The held encrypted parts with their state, and a password form for each still held.
function held(m) {
  const hs = m.held || [];
  const head = [t("held.part"), t("held.filename"), t("held.status"), t("held.attempts"), t("held.expires"),
    t("held.openedBy")];
  const rows = hs.map((p) => [p.part, h("span", { class: "filename" }, p.filename || ""),
    h("span", { class: "tag h-" + p.status }, t("heldstatus." + p.status)),
    h("span", { class: "num" }, String(p.attempts ?? 0)), p.expires ? timeEl(p.expires, p.expires_iso) : "",
    p.opened_by || ""]);
  const forms = hs.map((p, i) => unlockForm(m, p, i)).filter(Boolean);
  return [h("div", { class: "scroll" }, table(null, head, rows, "held")),
    forms.length ? h("p", { class: "hint" }, t("held.hint")) : null, forms];
}

// The history of the message (its audit events), oldest first as it happened.
export function eventTable(events, withItem) {
  const head = [t("ev.seq"), t("ev.time"), t("ev.actor"), t("ev.action"), t("ev.reason"), t("ev.detail"),
    t("ev.source"), t("ev.outcome")];
  if (withItem) head.splice(3, 0, t("ev.item"));
  const rows = events.map((e) => {
    const ok = !e.outcome || e.outcome === "ok";
    const cells = [String(e.seq ?? ""), timeEl(e.time, e.time_iso), e.actor || "",
      h("span", { class: "tag" }, t("evaction." + e.action, null, e.action)), e.reason || "", e.detail || "",
      e.source || "", h("span", { class: ok ? "good" : "bad" }, e.outcome || "")];
    if (withItem) cells.splice(3, 0, e.item ? h("a", { href: messageHref(e.item), class: "mono" }, e.item) : "");
    return cells;
  });
  return h("div", { class: "scroll" }, table(null, head, rows, "events"));
}

// Send a request for m made in the form; an admin's may be carried out at once.
async function sendRequest(ev, m, f, ctx) {
  ev.preventDefault();
  f.out.replaceChildren();
  const reason = f.reason.value.trim();
  if (!reason) return f.out.append(note("error", t("reason.empty")));
  const body = { action: f.action.value, reason };
  if (f.to && f.to.value.trim()) body.to = f.to.value.split(/[,\s]+/).filter(Boolean);
  f.button.disabled = true;
  try {
    const r = await api.post("messages/" + encodeURIComponent(m.id) + "/requests", body);
    announce(ctx, r);
    ctx.reload();
  } catch (e) {
    if (e.status !== 401) f.out.append(note("error", t("error", { msg: e.message })));
    f.button.disabled = false;
  }
}

// The request form: action, reason and (admin only) other recipients for a release.
function requestForm(m, ctx) {
  if (!api.canRequest()) return null;
  if (m.status !== "quarantined" && m.status !== "released")
    return note("info", t("msg.gone", { status: t("status." + m.status) }));
  const action = select({ id: "req-action", name: "action" },
    ["release", "export", "delete"].map((a) => [a, t("action." + a)]), "release");
  const reason = field(t("req.reason"), { id: "req-reason", name: "reason", tag: "textarea", rows: 2, maxlength: 1000 });
  const to = api.isAdmin()
    ? field(t("req.toLabel"), { id: "req-to", name: "to", type: "text", placeholder: "user@example.lg.jp" })
    : null;
  const button = h("button", { type: "submit", id: "req-submit" }, t("req.submit"));
  const out = h("div", { class: "out" });
  const rule = api.session.current.approvals === 1 && api.isAdmin() ? t("rule.one") : t("rule.two");
  const form = h("form", { class: "request", id: "request-form" },
    h("div", { class: "field" }, h("label", { for: "req-action" }, t("req.action")), action),
    reason.node, to ? to.node : null, h("p", { class: "hint" }, rule),
    h("div", { class: "buttons" }, button), out);
  const f = { action, reason: reason.input, to: to && to.input, button, out };
  form.addEventListener("submit", (ev) => sendRequest(ev, m, f, ctx));
  return form;
}

// A titled section.
function section(id, title, ...content) {
  return h("section", { id, "aria-labelledby": id + "-h" }, h("h2", { id: id + "-h" }, title), content);
}

// The message page.
export async function render(ctx) {
  const id = ctx.route.id;
  const m = await api.get("messages/" + encodeURIComponent(id));
  const reqs = m.requests || [];
  return h("article", { class: "message", "data-id": m.id },
    h("p", { class: "back" }, h("a", { href: "#/messages" }, t("msg.back"))),
    h("h1", { id: "msg-subject" }, m.subject || t("nosubject")),
    section("envelope", t("msg.envelope"), envelope(m)),
    section("parts", t("msg.parts"), parts(m)),
    (m.held || []).length ? section("held", t("msg.held"), held(m)) : null,
    section("clean-text", t("msg.cleanText"),
      m.clean_text ? h("pre", { class: "clean", id: "clean-text-body" }, m.clean_text) : note("info", t("msg.noText"))),
    section("actions", t("msg.actions"), requestForm(m, ctx) || note("info", t("msg.readOnly"))),
    section("requests", t("msg.requests"), reqs.length ? requestTable(ctx, reqs, false) : note("info", t("msg.noRequests"))),
    section("history", t("msg.history"), (m.events || []).length ? eventTable(m.events, false) : note("info", t("msg.noEvents"))),
    section("headers", t("msg.headers"), headers(m)));
}
