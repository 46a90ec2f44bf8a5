// users.js - the console's accounts (admin only): list, add, disable or enable,
// change role, set a new password. The server checks the role again on every call.
import * as api from "./api.js";
import { h, field, select, table, timeEl, note } from "./dom.js";
import { t } from "./i18n.js";

const ROLES = ["admin", "reviewer", "auditor"];
const MIN_PASSWORD = 12;

// POST a change to one account and redraw the screen with what happened.
async function change(ctx, name, body, done, out) {
  out.replaceChildren();
  try {
    await api.post("users/" + encodeURIComponent(name), body);
    ctx.notify("ok", done);
    ctx.reload();
  } catch (e) {
    if (e.status !== 401) out.append(note("error", t("error", { msg: e.message })));
  }
}

// The controls of one account: role, enable/disable, new password.
function controls(ctx, u) {
  const out = h("div", { class: "out" });
  const base = "u-" + u.name.replace(/[^A-Za-z0-9_-]/g, "_");
  const role = select({ id: base + "-role", "aria-label": t("users.roleOf", { name: u.name }) },
    ROLES.map((r) => [r, t("role." + r)]), u.role);
  const setRole = h("button", { type: "button", class: "secondary" }, t("users.setRole"));
  setRole.addEventListener("click", () =>
    change(ctx, u.name, { role: role.value }, t("users.roleSet", { name: u.name }), out));
  const toggle = h("button", { type: "button", class: u.disabled ? "secondary" : "danger" },
    u.disabled ? t("users.enable") : t("users.disable"));
  toggle.addEventListener("click", () => change(ctx, u.name, { disabled: !u.disabled },
    t(u.disabled ? "users.enabled" : "users.disabled", { name: u.name }), out));
  const pw = h("input", { type: "password", id: base + "-pw", autocomplete: "new-password", minlength: MIN_PASSWORD,
    "aria-label": t("users.newPasswordOf", { name: u.name }), placeholder: t("users.newPassword") });
  const pwForm = h("form", { class: "row" },
    h("input", { type: "text", name: "username", autocomplete: "username", value: u.name, hidden: true }),
    pw, h("button", { type: "submit", class: "secondary" }, t("users.setPassword")));
  pwForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (pw.value.length < MIN_PASSWORD) {
      out.replaceChildren(note("error", t("users.short", { n: MIN_PASSWORD })));
      return;
    }
    change(ctx, u.name, { password: pw.value }, t("users.passwordSet", { name: u.name }), out);
  });
  return h("div", { class: "usercontrols" }, h("div", { class: "row" }, role, setRole, toggle),
    pwForm, out);
}

// The form that adds an account.
function addForm(ctx) {
  const name = field(t("users.name"), { id: "nu-name", name: "name", autocomplete: "off", required: true });
  const role = select({ id: "nu-role", name: "role" }, ROLES.map((r) => [r, t("role." + r)]), "reviewer");
  const pw = field(t("users.password", { n: MIN_PASSWORD }), { id: "nu-pw", name: "password", type: "password",
    autocomplete: "new-password", minlength: MIN_PASSWORD, required: true });
  const out = h("div", { class: "out" });
  const form = h("form", { class: "adduser", id: "add-user", novalidate: true }, name.node,
    h("div", { class: "field" }, h("label", { for: "nu-role" }, t("users.role")), role), pw.node,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, t("users.add"))), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const n = name.input.value.trim();
    if (!n) return out.append(note("error", t("users.noName")));
    if (pw.input.value.length < MIN_PASSWORD) return out.append(note("error", t("users.short", { n: MIN_PASSWORD })));
    try {
      await api.post("users", { name: n, role: role.value, password: pw.input.value });
      ctx.notify("ok", t("users.added", { name: n }));
      ctx.reload();
    } catch (e) {
      if (e.status !== 401) out.append(note("error", t("error", { msg: e.message })));
    }
  });
  return form;
}

// The users screen.
export async function render(ctx) {
  if (!api.isAdmin()) return h("section", null, h("h1", null, t("users.title")), note("error", t("users.adminOnly")));
  const data = await api.get("users");
  const rows = (data.items || []).map((u) => ({
    attrs: { "data-user": u.name },
    cells: [u.name, t("role." + u.role), u.disabled ? h("span", { class: "bad" }, t("users.isDisabled")) : t("users.active"),
      u.locked_until && u.locked_until * 1000 > Date.now() ? [t("users.lockedUntil"), " ", timeEl(u.locked_until)] : "",
      timeEl(u.created), controls(ctx, u)],
  }));
  return h("section", null, h("h1", null, t("users.title")),
    h("div", { class: "scroll" }, table(null, [t("users.name"), t("users.role"), t("users.state"), t("users.lock"),
      t("users.created"), t("users.change")], rows, "users")),
    h("h2", null, t("users.addTitle")), addForm(ctx));
}
