// signin.js - the sign-in form. The server answers the same for an unknown user,
// a wrong password and a locked account; the page shows that answer as it is.
import * as api from "./api.js";
import { h, field, note } from "./dom.js";
import { t } from "./i18n.js";

// Send the form; on success go where the user was heading.
async function submit(ev, form, ctx) {
  ev.preventDefault();
  const { user, password, button, out } = form;
  out.replaceChildren();
  if (!user.value || !password.value) {
    out.append(note("error", t("signin.empty")));
    return;
  }
  button.disabled = true;
  try {
    await api.login(user.value, password.value);
    password.value = "";
    ctx.notifyNext("ok", t("signin.ok", { user: api.session.current.user }));
    ctx.signedIn();
  } catch (e) {
    password.value = "";
    out.append(note("error", e.status === 401 ? t("signin.wrong")
      : e.status === 503 ? t("signin.busy") : t("error", { msg: e.message })));
    password.focus();
  } finally {
    button.disabled = false;
  }
}

// The sign-in screen.
export async function render(ctx) {
  if (api.session.current) {
    ctx.signedIn();
    return h("p", null, t("loading"));
  }
  const user = field(t("signin.user"), { id: "signin-user", name: "user", autocomplete: "username",
    autocapitalize: "none", spellcheck: "false", required: true });
  const password = field(t("signin.password"), { id: "signin-password", name: "password",
    type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", id: "signin-submit" }, t("signin.submit"));
  const out = h("div", { class: "out", "aria-live": "assertive" });
  const form = h("form", { class: "signin", id: "signin-form", novalidate: true },
    user.node, password.node, h("div", { class: "buttons" }, button), out);
  const parts = { user: user.input, password: password.input, button, out };
  form.addEventListener("submit", (ev) => submit(ev, parts, ctx));
  setTimeout(() => user.input.focus(), 0);
  return h("section", { class: "narrow" }, h("h1", null, t("signin.title")),
    h("p", { class: "hint" }, t("signin.hint")), form);
}
