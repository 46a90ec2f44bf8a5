// audit.js - the audit trail with filters and paging, under the state of its hash
// chain: intact, or broken at the first event that was changed, removed or inserted.
import * as api from "./api.js";
import { h, field, note } from "./dom.js";
import { t } from "./i18n.js";
import { eventTable } from "./message.js";

const FILTERS = ["actor", "item", "action", "since", "until"];
// Actions offered as suggestions in the action filter (it matches exactly).
const ACTIONS = ["stored", "requested", "approved", "denied", "released", "release-failed", "exported",
  "deleted", "purged", "integrity-failed", "repaired", "login", "login-failed", "lockout", "logout",
  "user-added", "user-changed"];
const LIMIT = 100;

// The chain's verification state, as a banner.
async function chainState() {
  try {
    const v = await api.get("audit/verify");
    if (v.ok) return h("p", { class: "chain good", id: "chain-state", role: "status" }, t("audit.ok", { n: v.events }));
    return h("p", { class: "chain bad", id: "chain-state", role: "alert" }, t("audit.broken", { seq: v.first_bad, n: v.events }));
  } catch (e) {
    if (e.status === 401) throw e;
    return note("error", t("audit.verifyFailed", { msg: e.message }));
  }
}

// The filter form; submitting it goes to the first page.
function filterForm(p, ctx) {
  const inputs = {};
  const nodes = FILTERS.map((k) => {
    const type = k === "since" || k === "until" ? "date" : "search";
    const f = field(t("audit." + k), { id: "a-" + k, name: k, type, value: p[k] || "",
      list: k === "action" ? "a-actions" : null });
    inputs[k] = f.input;
    return f.node;
  });
  const actions = h("datalist", { id: "a-actions" }, ACTIONS.map((a) => h("option", { value: a }, t("evaction." + a, null, a))));
  const form = h("form", { class: "filters", role: "search", id: "audit-filters" }, nodes, actions,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, t("list.search")),
      h("a", { href: "#/audit", class: "button secondary" }, t("list.reset"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = {};
    for (const [k, el] of Object.entries(inputs)) next[k] = el.value.trim();
    ctx.go("#/audit" + api.query(next));
  });
  return form;
}

// Previous and next pages of the trail.
function pager(p, offset, total, shown) {
  const to = offset + shown;
  const link = (o, rel, label) => h("a", { href: "#/audit" + api.query({ ...p, offset: o }), rel }, label);
  return h("nav", { class: "pager", "aria-label": t("list.pages") },
    h("span", { class: "count" }, t("list.count", { from: total ? offset + 1 : 0, to, total })),
    offset > 0 ? link(Math.max(0, offset - LIMIT), "prev", t("list.prev")) : null,
    to < total ? link(offset + LIMIT, "next", t("list.next")) : null);
}

// The audit screen.
export async function render(ctx) {
  const p = {};
  for (const k of FILTERS) p[k] = ctx.route.query.get(k) || "";
  const offset = Math.max(0, parseInt(ctx.route.query.get("offset") || "0", 10) || 0);
  const [state, data] = await Promise.all([chainState(), api.get("audit", { ...p, limit: LIMIT, offset })]);
  const items = data.items || [];
  return h("section", null, h("h1", null, t("audit.title")), state, filterForm(p, ctx),
    pager(p, offset, data.total || 0, items.length),
    items.length ? eventTable(items, true) : note("info", t("audit.empty")));
}
