// Suanli dashboard: login, the API client, the router and live updates (polling).
// Pages are in pages.js; the ledger's proof check is in merkle.js. No build step.

import { PAGES, loadPlotly } from "./pages.js";

const TOKEN_KEY = "suanli.token";
const POLL_MS = 3000;

/** A DOM element: el("td", {class: "num"}, "12"); strings become text nodes, never HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
  }
}

/** Calls the service's API with the user's token; problems become ApiError. */
export async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/v1${path}`, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (exc) {
    throw new ApiError(0, "The service does not answer", String(exc.message || exc));
  }
  if (response.status === 401 && path !== "/me") {
    logout("Your token was not accepted (401); log in again.");
    throw new ApiError(401, "Unauthorized");
  }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new ApiError(response.status, body?.title || response.statusText, body?.detail || "");
  }
  return body;
}

export const session = { role: null, tenant: null };

const NAV = [
  ["map", "Network map", ["operator", "tenant", "regulator"]],
  ["queues", "Queues and tenants", ["operator", "tenant"]],
  ["jobs", "Jobs", ["operator", "tenant"]],
  ["approvals", "Approvals", ["operator", "regulator"]],
  ["ledger", "Ledger", ["operator", "regulator"]],
  ["report", "Simulation report", ["operator", "tenant", "regulator"]],
];

function renderNav(current) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    ...NAV.filter(([, , roles]) => roles.includes(session.role)).map(([id, label]) =>
      el("a", { href: `#/${id}`, "aria-current": id === current ? "page" : null }, label)
    )
  );
  const who = session.role === "tenant" ? `tenant ${session.tenant}` : session.role;
  document.getElementById("who").textContent = session.role ? `signed in as ${who}` : "";
  document.getElementById("logout").hidden = !session.role;
}

export function status(text, isError = false) {
  const footer = document.getElementById("status");
  footer.textContent = text;
  footer.classList.toggle("error", isError);
}

let loginMessage = "";
// where to go after logging in: the page that asked for it
let afterLogin = "#/map";

function logout(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  session.role = session.tenant = null;
  loginMessage = message;
  if (location.hash === "#/login") renderLogin();
  else location.hash = "#/login"; // the router renders the login screen
}

function renderLogin(message = loginMessage) {
  loginMessage = "";
  if (location.hash && !location.hash.startsWith("#/login")) afterLogin = location.hash;
  renderNav(null);
  stopPolling();
  const input = el("input", {
    id: "token", type: "password", name: "token", autocomplete: "off", required: true,
    "aria-describedby": "token-help",
  });
  const form = el(
    "form",
    { class: "card login", "aria-labelledby": "login-title" },
    el("h1", { id: "login-title" }, "Log in"),
    el("label", { for: "token" }, "API token"),
    input,
    el("p", { id: "token-help", class: "note" },
      "A token from `suanli admin create-token`. It stays in this tab only (sessionStorage)."),
    message ? el("p", { class: "error", role: "alert" }, message) : null,
    el("button", { class: "primary", type: "submit" }, "Log in")
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await whoami();
      if (location.hash === afterLogin) route();
      else location.hash = afterLogin;
      afterLogin = "#/map";
    } catch (exc) {
      sessionStorage.removeItem(TOKEN_KEY);
      renderLogin(exc.status === 401 ? "Unknown token: check it and try again." : exc.message);
    }
  });
  document.getElementById("main").replaceChildren(form);
  input.focus();
  markReady("login");
}

async function whoami() {
  const me = await api("/me");
  session.role = me.role;
  session.tenant = me.tenant;
  return me;
}

let poller = null;
let generation = 0;

function stopPolling() {
  if (poller) clearInterval(poller);
  poller = null;
}

/** Sets body[data-page] and counts renders: tests and the benchmark wait on these. The first
 * render after a page load is kept in window.suanliFirstRender: ms since navigation start
 * until the page's data was drawn (charts included), and `shownMs`, until its text was. */
export function markReady(page, shownMs = null) {
  const body = document.body;
  body.dataset.page = page;
  body.dataset.renders = String(Number(body.dataset.renders || 0) + 1);
  if (!window.suanliFirstRender) {
    const ms = performance.now();
    window.suanliFirstRender = { page, ms, shownMs: shownMs ?? ms };
  }
}

export function errorBox(exc) {
  return el("p", { class: "error", role: "alert" }, exc.message);
}

async function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "map";
  const [path, query = ""] = hash.split("?");
  const [name, ...rest] = path.split("/");
  if (name === "login" || !sessionStorage.getItem(TOKEN_KEY)) return renderLogin();
  if (PAGES[name]?.charts) loadPlotly(); // compile plotly.js while the data is fetched
  if (!session.role) {
    try {
      await whoami();
    } catch (exc) {
      return exc.status === 401 ? logout("Log in again.") : renderError(exc);
    }
  }
  const page = PAGES[name];
  if (!page) return renderError(new ApiError(404, "No such page", `#/${name}`));
  const mine = ++generation;
  stopPolling();
  renderNav(page.nav || name);
  const main = document.getElementById("main");
  main.replaceChildren(el("p", { class: "note" }, "Loading…"));
  const params = new URLSearchParams(query);
  let gone = false;
  const refresh = async (first) => {
    try {
      const view = await page.render({ args: rest, params, first });
      if (mine !== generation) return;
      if (view) main.replaceChildren(view);
      if (first) main.focus({ preventScroll: true });
      const shown = performance.now();
      await page.after?.();
      status(`Updated ${new Date().toLocaleTimeString()}${page.live === false ? "" : "; live"}`);
      markReady(name, shown);
    } catch (exc) {
      if (mine !== generation) return;
      if (first) {
        gone = exc.status === 403 || exc.status === 404; // polling again will not help
        main.replaceChildren(errorBox(exc));
        markReady(name);
      }
      status(gone ? exc.message : `Update failed: ${exc.message}; retrying`, true);
    }
  };
  await refresh(true);
  if (page.live !== false && !gone && mine === generation) {
    poller = setInterval(() => {
      if (!document.hidden) refresh(false);
    }, POLL_MS);
  }
}

function renderError(exc) {
  document.getElementById("main").replaceChildren(errorBox(exc));
  markReady("error");
}

document.getElementById("logout").addEventListener("click", () => logout());
// the skip link must not change the hash: the hash is the router's
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  document.getElementById("main").focus();
});
window.addEventListener("hashchange", route);
route();
