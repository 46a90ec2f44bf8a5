// messages.js - the list of stored messages: filters, paging, and a delete request
// for the messages ticked (reviewer, admin). Filters and page live in the hash, so
// the browser's back button and a copied address bring the same list back.
import * as api from "./api.js";
import { h, field, select, table, timeEl, fmtSize, addrs, messageHref, note } from "./dom.js";
import { t } from "./i18n.js";

const FILTERS = ["q", "sender", "recipient", "verdict", "status", "since", "until"];
const VERDICTS = ["clean", "sanitized", "blocked", "failed"];
const STATUSES = ["quarantined", "released", "deleted", "purged"];
const LIMITS = ["25", "50", "100", "200", "500"];

// The list's parameters from the route, with defaults.
function params(ctx) {
  const p = {};
  for (const k of FILTERS) p[k] = ctx.route.query.get(k) || "";
  p.limit = ctx.route.query.get("limit") || "50";
  p.offset = Math.max(0, parseInt(ctx.route.query.get("offset") || "0", 10) || 0);
  return p;
}

// The hash of the list with these parameters.
function listHash(p) {
  return "#/messages" + api.query(p);
}

// The filter form; submitting it goes to the first page of the new list.
function filterForm(p, ctx) {
  const inputs = {};
  const text = (k, type) => {
    const f = field(t("list." + k), { id: "f-" + k, name: k, type: type || "search", value: p[k] });
    inputs[k] = f.input;
    return f.node;
  };
  const choice = (k, values, prefix) => {
    const opts = [["", t("any")]].concat(values.map((v) => [v, t(prefix + v)]));
    inputs[k] = select({ id: "f-" + k, name: k }, opts, p[k]);
    return h("div", { class: "field" }, h("label", { for: "f-" + k }, t("list." + k)), inputs[k]);
  };
  inputs.limit = select({ id: "f-limit", name: "limit" }, LIMITS.map((v) => [v, v]), p.limit);
  const form = h("form", { class: "filters", id: "filters", role: "search" },
    text("q"), text("sender"), text("recipient"),
    choice("verdict", VERDICTS, "verdict."), choice("status", STATUSES, "status."),
    text("since", "date"), text("until", "date"),
    h("div", { class: "field" }, h("label", { for: "f-limit" }, t("list.limit")), inputs.limit),
    h("div", { class: "buttons" },
      h("button", { type: "submit", id: "filter-submit" }, t("list.search")),
      h("a", { href: "#/messages", class: "button secondary" }, t("list.reset"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = { offset: 0 };
    for (const [k, el] of Object.entries(inputs)) next[k] = el.value.trim();
    ctx.go(listHash(next));
  });
  return form;
}

// "1–50 of 1,234" and links to the previous and next pages.
function pager(p, total, shown) {
  const limit = parseInt(p.limit, 10) || 50;
  const from = total ? p.offset + 1 : 0;
  const to = p.offset + shown;
  const nav = h("nav", { class: "pager", "aria-label": t("list.pages") },
    h("span", { class: "count", id: "list-count" }, t("list.count", { from, to, total })));
  if (p.offset > 0)
    nav.append(h("a", { href: listHash({ ...p, offset: Math.max(0, p.offset - limit) }), rel: "prev" },
      t("list.prev")));
  if (to < total) nav.append(h("a", { href: listHash({ ...p, offset: p.offset + limit }), rel: "next" }, t("list.next")));
  return nav;
}

// One row of the list, with a tick box when the user may make requests.
function row(m, boxes) {
  const cells = [];
  if (boxes) {
    const box = h("input", { type: "checkbox", value: m.id, "aria-label": t("list.tick", { id: m.id }) });
    boxes.push(box);
    cells.push(box);
  }
  cells.push(timeEl(m.time, m.time_iso), m.sender || t("nullsender"), addrs(m.recipients),
    h("a", { href: messageHref(m.id), class: "subject" }, m.subject || t("nosubject")),
    h("span", { class: "tag v-" + m.verdict }, t("verdict." + m.verdict)),
    h("span", { class: "tag s-" + m.status }, t("status." + m.status)),
    h("span", { class: "num" }, fmtSize(m.size)),
    h("a", { href: messageHref(m.id), class: "mono" }, m.id));
  return { attrs: { "data-id": m.id }, cells };
}

// Ask for deletion of every ticked message, one request each, and say what happened.
async function bulkDelete(boxes, reasonEl, button, out, ctx) {
  out.replaceChildren();
  const ids = boxes.filter((b) => b.checked).map((b) => b.value);
  const reason = reasonEl.value.trim();
  if (!ids.length) return out.append(note("error", t("bulk.none")));
  if (!reason) return out.append(note("error", t("reason.empty")));
  button.disabled = true;
  let requested = 0, done = 0;
  const failures = [];
  for (const id of ids) {
    try {
      const r = await api.post("messages/" + encodeURIComponent(id) + "/requests", { action: "delete", reason });
      if (r.status === "pending") requested++;
      else if (r.status === "done") done++;
      else failures.push(h("li", null, id + ": " + (r.result || t("reqstatus." + r.status))));
    } catch (e) {
      if (e.status === 401) return;
      failures.push(h("li", null, id + ": " + e.message));
    }
  }
  const summary = t("bulk.result", { requested, done, failed: failures.length });
  ctx.notify(failures.length ? "error" : "ok", summary, failures.length ? h("ul", null, failures) : null);
  ctx.reload();
}

// The bulk "request delete" controls under the list.
function bulkForm(boxes, ctx) {
  const reason = field(t("bulk.reason"), { id: "bulk-reason", name: "reason", maxlength: 1000 });
  const out = h("div", { class: "out" });
  const all = h("input", { type: "checkbox", id: "bulk-all" });
  const button = h("button", { type: "submit", class: "danger", id: "bulk-delete" }, t("bulk.delete"));
  all.addEventListener("change", () => boxes.forEach((b) => (b.checked = all.checked)));
  const form = h("form", { class: "bulk", id: "bulk-form" },
    h("div", { class: "field inline" }, all, h("label", { for: "bulk-all" }, t("bulk.all"))),
    reason.node, h("div", { class: "buttons" }, button), out);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    bulkDelete(boxes, reason.input, button, out, ctx);
  });
  return form;
}

// The list screen.
export async function render(ctx) {
  const p = params(ctx);
  const data = await api.get("messages", p);
  const boxes = api.canRequest() ? [] : null;
  const items = data.items || [];
  const head = [t("list.time"), t("list.sender"), t("list.recipients"), t("list.subject"),
    t("list.verdict"), t("list.status"), t("list.size"), t("list.id")];
  if (boxes) head.unshift(t("list.select"));
  const body = items.length
    ? table(t("list.caption"), head, items.map((m) => row(m, boxes)), "list")
    : note("info", t("list.empty"));
  return h("section", null, h("h1", null, t("list.title")), filterForm(p, ctx),
    pager(p, data.total || 0, items.length), h("div", { class: "scroll", id: "message-list" }, body),
    boxes && items.length ? bulkForm(boxes, ctx) : null);
}
