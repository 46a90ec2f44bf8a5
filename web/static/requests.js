// requests.js - requests by status (pending first): what approvers work through.
// An admin approves or denies here the requests of others; everyone else reads.
import * as api from "./api.js";
import { h, select, note } from "./dom.js";
import { t } from "./i18n.js";
import { requestTable } from "./reqview.js";

const STATUSES = ["pending", "done", "failed", "denied"];

// The status chooser; changing it changes the hash.
function chooser(status, ctx) {
  const opts = STATUSES.map((s) => [s, t("reqstatus." + s)]).concat([["all", t("any")]]);
  const sel = select({ id: "rq-status", name: "status" }, opts, status);
  sel.addEventListener("change", () => ctx.go("#/requests?status=" + encodeURIComponent(sel.value)));
  return h("form", { class: "filters", role: "search" },
    h("div", { class: "field" }, h("label", { for: "rq-status" }, t("req.status")), sel));
}

// The requests screen; newest first.
export async function render(ctx) {
  const status = ctx.route.query.get("status") || "pending";
  const data = await api.get("requests", { status: status === "all" ? "" : status });
  const items = (data.items || []).slice().reverse();
  const hint = api.isAdmin() ? t("rq.hintAdmin") : t("rq.hintRead");
  return h("section", null, h("h1", null, t("rq.title")), h("p", { class: "hint" }, hint),
    chooser(status, ctx),
    items.length ? requestTable(ctx, items, true, t("rq.caption", { status: t("reqstatus." + status, null, t("any")) }))
      : note("info", t("rq.empty")));
}
