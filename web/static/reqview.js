// reqview.js - requests (release, export, delete) as the message page and the
// pending-requests screen show them: who asked, why, what became of it, and for an
// admin who did not ask, approve and deny. The server enforces the two-person rule;
// the page only avoids offering what it would refuse.
import * as api from "./api.js";
import { h, table, timeEl, addrs, messageHref, note } from "./dom.js";
import { t } from "./i18n.js";

const DOWNLOAD = /^\/api\/v1\/downloads\/[0-9a-f]{64}$/;

// A download link for an approved export, only for a path of the expected shape.
export function downloadLink(path) {
  if (!path || !DOWNLOAD.test(path)) return null;
  return h("a", { href: path, class: "download", download: "" }, t("req.download"));
}

// What a carried-out request came to: the release's reply, an error, a download.
export function outcome(r) {
  const parts = [];
  if (r.result) parts.push(h("span", { class: "result " + (r.status === "failed" ? "bad" : "good") }, r.result));
  const link = downloadLink(r.download);
  if (link) parts.push(" ", link);
  return parts;
}

// The status line after an approval or an immediate action.
export function announce(ctx, r) {
  const what = t("action." + r.action);
  if (r.status === "failed")
    ctx.notify("error", t("req.failed", { action: what, id: r.item }), " ", r.result || "");
  else if (r.status === "done")
    ctx.notify("ok", t("req.done", { action: what, id: r.item }), " ", outcome(r));
  else if (r.status === "denied") ctx.notify("ok", t("req.denied", { action: what, id: r.item }));
  else ctx.notify("ok", t("req.sent", { action: what, id: r.item }));
}

// Approve or deny r with the reason typed beside it.
async function decide(ctx, r, verb, reasonEl, buttons, out) {
  out.replaceChildren();
  const reason = reasonEl.value.trim();
  if (!reason) return out.append(note("error", t("reason.empty")));
  buttons.forEach((b) => (b.disabled = true));
  try {
    const done = await api.post("requests/" + encodeURIComponent(r.id) + "/" + verb, { reason });
    announce(ctx, done);
    ctx.reload();
  } catch (e) {
    if (e.status !== 401) out.append(note("error", t("error", { msg: e.message })));
    buttons.forEach((b) => (b.disabled = false));
  }
}

// Approve and deny controls, for an admin who is not the requester of a pending request.
function decisionControls(ctx, r) {
  const s = api.session.current;
  if (r.status !== "pending" || !api.isAdmin()) return null;
  if (r.requester === s.user) return h("span", { class: "hint" }, t("req.own"));
  const id = "decide-" + r.id;
  const reason = h("input", { type: "text", id, name: "reason", maxlength: 1000, class: "reason" });
  const approve = h("button", { type: "button", class: "approve", "data-request": r.id }, t("req.approve"));
  const deny = h("button", { type: "button", class: "deny secondary", "data-request": r.id }, t("req.deny"));
  const out = h("div", { class: "out" });
  approve.addEventListener("click", () => decide(ctx, r, "approve", reason, [approve, deny], out));
  deny.addEventListener("click", () => decide(ctx, r, "deny", reason, [approve, deny], out));
  return h("div", { class: "decide" }, h("label", { for: id }, t("req.decisionReason")), reason,
    h("div", { class: "buttons" }, approve, deny), out);
}

// The requests as a table; withItem adds a column linking to each message.
export function requestTable(ctx, items, withItem, caption) {
  const head = [t("req.id"), t("req.action"), t("req.requester"), t("req.time"), t("req.reason"),
    t("req.status"), t("req.decision"), t("req.outcome"), t("req.decide")];
  if (withItem) head.splice(1, 0, t("req.item"));
  const rows = items.map((r) => {
    const cells = [String(r.id), h("span", { class: "tag" }, t("action." + r.action)),
      r.requester, timeEl(r.time, r.time_iso),
      [r.reason, r.to && r.to.length ? h("div", { class: "hint" }, t("req.to", { to: addrs(r.to) })) : null],
      h("span", { class: "tag r-" + r.status }, t("reqstatus." + r.status)),
      r.approver ? [r.approver, " ", timeEl(r.decided, r.decided_iso),
        r.decision_reason ? h("div", { class: "hint" }, r.decision_reason) : null] : "",
      outcome(r), decisionControls(ctx, r)];
    if (withItem) cells.splice(1, 0, h("a", { href: messageHref(r.item), class: "mono" }, r.item));
    return { attrs: { "data-request": r.id, class: "req-" + r.status }, cells };
  });
  return h("div", { class: "scroll" }, table(caption, head, rows, "requests"));
}
