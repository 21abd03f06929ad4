// The dashboard's pages. Each page's render() fetches from the API and returns a DOM node;
// after() draws its Plotly charts once the node is in the document. Pages refresh every few
// seconds (app.js) unless live is false.

import { api, el, errorBox, session } from "./app.js";
import { rootFromInclusion, verifyHeadWithHistory } from "./merkle.js";
import { mapPage, sitePage } from "./network.js";
import {
  STATES, TERMINAL, badge, drawPlots, fmt, kv, loadPlotly, pct, plot, table, unchanged, when,
} from "./ui.js";

export { loadPlotly };


// -- queues and tenants ------------------------------------------------------------------

const sumValues = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);

// what a quota's keys name under each flavor scope (suanli serve --flavor-scope)
const SCOPE_KEYS = { network: "TYPE (an accelerator type)", hub: "TYPE@HUB (a type at a hub)", site: "TYPE@SITE (a type at a site)" };

function queueConfig(q) {
  return el("div", { class: "card", id: "queue-config" }, kv([
    ["policy", el("span", { id: "queue-policy" }, q.policy)],
    ["queueing", q.queueing
      ? "yes: a multi-tenant queueing policy (docs/queueing.md says which of quotas, limits and preemption it enforces)"
      : "no: a placement policy; quotas and limits are not enforced"],
    ["flavor scope", el("span", { id: "queue-scope" }, `${q.flavorScope}: quota keys are ${SCOPE_KEYS[q.flavorScope] || "flavors"}`)],
  ]));
}

function tenantsTable(q) {
  if (!q.tenants.length) return el("p", { class: "empty" }, "No tenants.");
  return el("div", { id: "queue-tenants" }, table(
    "Tenants: the cohort its queue borrows in, fair share (weight / all weights), quota, accelerators in use and borrowed",
    ["tenant", "sector", "cohort", "weight", "share", "quota", "in use", "borrowing", "queued", "pending approval", "running"],
    q.tenants.map((t) => [
      el("span", {}, t.name, el("br"), el("span", { class: "mono" }, t.id)), t.sector,
      el("span", { class: "cohort" }, t.cohort || "network"), fmt(t.weight, 2),
      pct(t.share),
      Object.entries(t.quota).map(([k, v]) => `${k} ${fmt(v)}`).join(", ") || "none",
      Object.entries(t.inUse).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(", ") || "0",
      fmt(t.borrowing, 1), fmt(t.states.queued || 0), fmt(t.states["pending-approval"] || 0),
      fmt(t.states.running || 0),
    ]), [3, 4, 7, 8, 9, 10]));
}

// the cohorts: queues of one cohort lend each other idle quota, and none to other cohorts
function cohortsTable(cohorts) {
  return el("div", { id: "queue-cohorts" }, (cohorts || []).length
    ? table("Cohorts: the queues of a cohort lend each other their idle quota, and none to queues of other cohorts",
      ["cohort", "parent", "tenants", "description"],
      cohorts.map((c) => [el("span", { class: "mono" }, c.name), c.parent || "–",
        c.tenants.join(", ") || "none", c.description || "–"]), [])
    : el("p", { class: "empty" }, "No cohorts."));
}

// one row per tenant and flavor with a borrowing or a lending limit
function limitsTable(tenants) {
  const rows = tenants.flatMap((t) => {
    const borrow = t.borrowingLimit || {}, lend = t.lendingLimit || {};
    const flavors = [...new Set([...Object.keys(borrow), ...Object.keys(lend)])].sort();
    return flavors.map((f) => [el("span", { class: "mono" }, t.id), f, fmt(t.quota[f] ?? 0),
      f in borrow ? fmt(borrow[f]) : "unbounded", f in lend ? fmt(lend[f]) : "all idle quota"]);
  });
  return el("div", { id: "queue-limits" }, rows.length
    ? table("Borrowing and lending limits per flavor: the most a tenant may borrow beyond its quota, the most of its idle quota it lends",
      ["tenant", "flavor", "quota", "borrowing limit", "lending limit"], rows, [2, 3, 4])
    : el("p", { class: "empty" }, "No borrowing or lending limits: every tenant may borrow without bound and lends all of its idle quota."));
}

function classesTable(classes) {
  const sorted = [...classes].sort((a, b) => b.value - a.value || a.name.localeCompare(b.name));
  return el("div", { id: "queue-classes" }, sorted.length
    ? table("Priority classes, highest value first: a job names one in spec.priorityClass",
      ["class", "value", "preemption policy", "global default", "description"],
      sorted.map((c) => [el("span", { class: "mono" }, c.name), fmt(c.value), c.preemptionPolicy,
        c.globalDefault ? "yes: jobs that name no priority get it" : "no", c.description || "–"]), [1])
    : el("p", { class: "empty" }, "No priority classes."));
}

function preemptionsTable(q) {
  const shown = q.preemptions.length;
  if (!shown) return el("div", { id: "queue-preemptions" }, el("p", { class: "empty" }, "No preemptions."));
  const caption = q.preemptionsTotal > shown
    ? `The ${fmt(shown)} newest of ${fmt(q.preemptionsTotal)} preemptions`
    : "Preemptions, newest first";
  return el("div", { id: "queue-preemptions" },
    table(caption, ["at", "job", "tenant", "made room for (reason)", "work lost (accelerator-hours)"],
      q.preemptions.map((p) => [when(p.at),
        el("a", { href: `#/jobs/${p.jobId}` }, p.jobName, " ", el("span", { class: "mono" }, p.jobId)),
        p.tenant, p.reason, fmt(p.lostGpuH, 1)]), [4]),
    q.preemptionsTotal > shown ? el("p", { class: "note", id: "queue-preemptions-more" },
      `${fmt(q.preemptionsTotal - shown)} older preemptions are not listed; each is in its job's events and the audit ledger.`) : null,
    q.preemptions.some((p) => p.lostGpuH === null) ? el("p", { class: "note" },
      "Work lost –: no queueing policy measured it (a run the backend lost, a site that went down, or a preemption recorded before the service kept the figure).") : null);
}

const queuesPage = {
  charts: true,
  async render({ first }) {
    loadPlotly();
    const q = await api("/queues");
    if (unchanged("queues", q, first)) return null;
    const states = STATES.filter((s) => q.states[s]);
    return el("section", { "aria-labelledby": "queues-title" },
      el("h1", { id: "queues-title" }, "Queues and tenants"),
      queueConfig(q),
      el("div", { class: "card" }, states.length
        ? kv(states.map((s) => [s, el("a", { href: `#/jobs?state=${s}` }, fmt(q.states[s]))]))
        : el("p", { class: "empty" }, "No jobs yet.")),
      tenantsTable(q),
      q.tenants.length ? plot("tenant-chart", [
        { type: "bar", name: "quota", x: q.tenants.map((t) => t.id), y: q.tenants.map((t) => sumValues(t.quota)) },
        { type: "bar", name: "in use", x: q.tenants.map((t) => t.id), y: q.tenants.map((t) => sumValues(t.inUse)) },
      ], { title: { text: "Accelerators: quota and in use" }, barmode: "group",
        margin: { l: 50, r: 20, t: 40, b: 110 }, legend: { orientation: "h", y: 1.08 } }) : null,
      el("h2", {}, "Cohorts"), cohortsTable(q.cohorts),
      el("h2", {}, "Borrowing and lending limits"), limitsTable(q.tenants),
      el("h2", {}, "Priority classes"), classesTable(q.priorityClasses),
      el("h2", {}, "Recent preemptions"), preemptionsTable(q));
  },
  after: drawPlots,
};

// -- jobs --------------------------------------------------------------------------------

function jobsQuery(params) {
  const q = new URLSearchParams({ limit: "50", order: "desc" });
  for (const k of ["state", "tenant", "name", "after"]) if (params.get(k)) q.set(k, params.get(k));
  return q;
}

const jobsPage = {
  async render({ params, first }) {
    // a filter the API refuses (422) is shown under the form, so it can be corrected there
    const page = await api(`/jobs?${jobsQuery(params)}`).catch((exc) => {
      if (exc.status !== 422 && exc.status !== 403) throw exc;
      return { error: exc };
    });
    if (unchanged("jobs", page.error ? String(page.error.message) : page, first)) return null;
    const list = page.error ? errorBox(page.error) : jobsTable(page, params);
    if (!first && document.getElementById("jobs-table-slot")) {
      document.getElementById("jobs-table-slot").replaceChildren(list);
      return null;
    }
    const field = (name, label, control) => el("label", { for: `f-${name}` }, label, control);
    const form = el("form", { class: "filters", role: "search", "aria-label": "Filter jobs" },
      field("state", "State", el("select", { id: "f-state", name: "state" },
        el("option", { value: "" }, "any"),
        STATES.map((s) => el("option", { value: s, selected: params.get("state") === s }, s)))),
      session.role === "operator" ? field("tenant", "Tenant", el("input", { id: "f-tenant", name: "tenant", value: params.get("tenant") || "" })) : null,
      field("name", "Name", el("input", { id: "f-name", name: "name", value: params.get("name") || "" })),
      el("button", { type: "submit", class: "primary" }, "Filter"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
      location.hash = `#/jobs?${q}`;
    });
    return el("section", { "aria-labelledby": "jobs-title" },
      el("h1", { id: "jobs-title" }, session.role === "tenant" ? `Jobs of ${session.tenant}` : "Jobs"),
      form, el("div", { id: "jobs-table-slot" }, list));
  },
};

function jobsTable(page, params) {
  if (!page.items.length) return el("p", { class: "empty" }, "No jobs match these filters.");
  const next = new URLSearchParams(params);
  if (page.next !== null) next.set("after", page.next);
  return el("div", {},
    table("Jobs, newest first", ["job", "name", "tenant", "state", "site", "accelerator", "submitted", "reason"],
      page.items.map((j) => [
        el("a", { href: `#/jobs/${j.id}`, class: "mono" }, j.id), j.metadata.name, j.metadata.tenant,
        badge(j.status.state), j.status.site || "–", j.status.accelerator || "–",
        when(j.status.submittedAt), j.status.reason,
      ])),
    page.next !== null ? el("p", {}, el("a", { href: `#/jobs?${next}` }, "Older jobs →")) : null);
}

const jobPage = {
  nav: "jobs",
  async render({ args, first }) {
    const id = args[0];
    const [job, events] = await Promise.all([api(`/jobs/${id}`), api(`/jobs/${id}/events`)]);
    if (unchanged("job", [job, events], first)) return null;
    const s = job.status;
    const ex = s.explanation;
    const cancel = !TERMINAL.has(s.state) && session.role !== "regulator"
      ? el("button", { class: "danger", type: "button", onclick: async (ev) => {
        ev.target.disabled = true;
        try { await api(`/jobs/${id}/cancel`, { method: "POST" }); }
        catch (exc) { ev.target.after(errorBox(exc)); }
      } }, "Cancel job") : null;
    return el("section", { "aria-labelledby": "job-title" },
      el("p", {}, el("a", { href: "#/jobs" }, "← Jobs")),
      el("h1", { id: "job-title" }, `${job.metadata.name} `, el("span", { class: "mono" }, job.id)),
      el("div", { class: "card" }, kv([
        ["state", el("span", { id: "job-state" }, badge(s.state))], ["tenant", job.metadata.tenant],
        ["site", s.site || "–"], ["accelerator", s.accelerator || "–"],
        ["accelerators asked", `${fmt(job.spec.accelerators.count, 2)} of ${job.spec.accelerators.types.join(", ")}`],
        ["start hour", fmt(s.startHour, 2)], ["planned end hour", fmt(s.plannedEndHour, 2)],
        ["cost", s.costYuan === null ? "–" : `${fmt(s.costYuan, 2)} yuan`],
        ["data", `${job.spec.data.classification} at ${job.spec.data.site}`],
        ["deadline", when(job.spec.deadline)], ["submitted", when(s.submittedAt)],
      ]), el("p", { id: "job-reason" }, el("strong", {}, "Why: "), s.reason || "–"), cancel),
      el("h2", {}, "Placement explanation"),
      el("div", { id: "explanation", class: "card" }, ex ? [
        kv([["policy", ex.policy], ["decision", ex.reason], ["options weighed", fmt(ex.options)]]),
        Object.keys(ex.excluded || {}).length
          ? table("Sites excluded, with the reason", ["site", "reason"], Object.entries(ex.excluded))
          : el("p", { class: "note" }, "No site was excluded."),
      ] : el("p", { class: "empty" }, "Not placed yet: the reason above says what the job waits for.")),
      el("h2", {}, "Events"),
      events.length ? table("Every change of state, sealed into the audit ledger",
        ["#", "at", "from", "to", "reason", "by"],
        events.map((e) => [String(e.seq), when(e.at), e.fromState || "–", e.toState || "–", e.reason, e.actor]))
        : el("p", { class: "empty" }, "No events."));
  },
};

// -- approvals ---------------------------------------------------------------------------

// the oldest jobs waiting are listed, this many; one more is asked for, to say there are more
const APPROVALS_SHOWN = 100;

const approvalsPage = {
  async render({ first }) {
    const waiting = await api(`/approvals?limit=${APPROVALS_SHOWN + 1}`);
    const items = waiting.slice(0, APPROVALS_SHOWN);
    items.more = waiting.length > APPROVALS_SHOWN;
    const slot = document.getElementById("approvals-slot");
    if (!first && slot) {
      if (slot.dataset.ids !== items.map((a) => a.jobId).join()) slot.replaceWith(approvalsList(items));
      return null;
    }
    return el("section", { "aria-labelledby": "approvals-title" },
      el("h1", { id: "approvals-title" }, "Jobs waiting for approval"),
      el("p", { class: "note" }, session.role === "regulator"
        ? "Approve to queue the job for scheduling, deny to reject it; the reason goes into the ledger."
        : "Only a regulator decides; operators see the queue."),
      el("div", { id: "decision-result", role: "status" }), approvalsList(items));
  },
};

function approvalsList(items) {
  const slot = el("div", { id: "approvals-slot", dataset: { ids: items.map((a) => a.jobId).join() } });
  if (!items.length) {
    slot.append(el("p", { class: "empty" }, "No jobs are waiting for a decision."));
    return slot;
  }
  const decide = (a, decision, input) => async (ev) => {
    ev.target.disabled = true;
    const out = document.getElementById("decision-result");
    try {
      const r = await api(`/approvals/${a.jobId}`, { method: "POST",
        body: { decision, reason: input.value.trim() || `${decision}d from the dashboard` } });
      out.replaceChildren(el("p", { class: "ok" }, `${a.jobId}: ${r.decision}d, now ${r.state}.`));
      const rest = items.filter((x) => x.jobId !== a.jobId);
      rest.more = items.more;
      document.getElementById("approvals-slot").replaceWith(approvalsList(rest));
    } catch (exc) {
      ev.target.disabled = false;
      out.replaceChildren(errorBox(exc));
    }
  };
  const caption = items.more
    ? `The ${items.length} oldest of more than ${APPROVALS_SHOWN} waiting (the next appear as these are decided)`
    : "Pending, oldest first";
  slot.append(table(caption, ["job", "tenant", "name", "data", "accelerators", "submitted", "decision"],
    items.map((a) => {
      const input = el("input", { "aria-label": `Reason for ${a.jobId}`, placeholder: "reason", id: `reason-${a.jobId}` });
      return [
        el("span", { class: "mono" }, a.jobId), a.tenant, a.name, `${a.classification} at ${a.dataSite}`,
        fmt(a.accelerators, 2), when(a.submittedAt),
        session.role === "regulator" ? el("div", { class: "actions" }, input,
          el("button", { class: "primary", type: "button", id: `approve-${a.jobId}`, onclick: decide(a, "approve", input) }, "Approve"),
          el("button", { class: "danger", type: "button", id: `deny-${a.jobId}`, onclick: decide(a, "deny", input) }, "Deny"))
          : "–",
      ];
    }), [4]));
  return slot;
}

// -- ledger ------------------------------------------------------------------------------

async function verifyEntry(seq, out) {
  out.replaceChildren(el("p", { class: "note" }, `Verifying entry ${seq}…`));
  try {
    const head = await api("/audit/head");
    const proof = await api(`/audit/entries/${seq}/proof?treeSize=${head.treeSize}`);
    const root = await rootFromInclusion(proof.leafIndex, proof.treeSize, proof.entry.leafHash, proof.path);
    const good = root === head.root && root === proof.root;
    out.replaceChildren(el("p", { class: good ? "ok" : "error", role: good ? "status" : "alert", id: "verify-result" },
      good
        ? `Verified in this browser: entry ${seq} (leaf ${proof.leafIndex}) is in the tree of ${head.treeSize} entries; the ${proof.path.length} hashes of its proof give root ${root}, the head's root.`
        : `NOT verified: the proof gives root ${root}, the head says ${head.root}.`));
    out.scrollIntoView({ block: "nearest" });
  } catch (exc) {
    out.replaceChildren(el("p", { class: "error", role: "alert", id: "verify-result" }, `Could not verify entry ${seq}: ${exc.message}`));
    out.scrollIntoView({ block: "nearest" });
  }
}

const ledgerPage = {
  async render({ first }) {
    const head = await api("/audit/head");
    // the head is signed anew on every request: only a new size or root is a change
    if (unchanged("ledger", { treeSize: head.treeSize, root: head.root }, first)) return null;
    let signed;
    let history = null;
    try {
      history = await api("/audit/keys");
      const check = await verifyHeadWithHistory(head, history);
      signed = check.valid
        ? `valid: Ed25519 by key ${check.key.keyId.slice(0, 16)}… (key ${check.index + 1} of ${history.keys.length} in the key history, each endorsed by the one before), checked in this browser`
        : `INVALID: ${check.why}`;
    } catch (exc) {
      signed = `not checked: ${exc.message}`;
    }
    const firstKey = history?.keys?.[0]?.publicKey;
    const after = Math.max(0, head.treeSize - 50);
    const entries = head.treeSize ? (await api(`/audit/entries?after=${after}&limit=50`)).items.reverse() : [];
    const headCard = el("div", { class: "card", id: "head-card" }, kv([
      ["entries", fmt(head.treeSize)], ["root (SHA-256, RFC 6962)", el("span", { class: "mono" }, head.root)],
      ["signed at", head.time],
      ["public key (Ed25519)", el("span", { class: "mono" }, head.publicKey)],
      ["first key (compare it out of band)", el("span", { class: "mono", id: "first-key" }, firstKey || "–")],
      ["signature", el("span", { id: "head-signature" }, signed)],
    ]));
    const list = entries.length ? table("The 50 newest entries", ["#", "at", "subject", "change", "reason", "by", ""],
      entries.map((e) => [String(e.seq), when(e.at), `${e.subject} ${e.subjectId}`,
        `${e.fromState || "–"} → ${e.toState || "–"}`, e.reason, e.actor,
        el("button", { type: "button", id: `verify-${e.seq}`, onclick: () => verifyEntry(e.seq, document.getElementById("verify-out")) }, "Verify")]))
      : el("p", { class: "empty" }, "The ledger is empty: nothing has been sealed yet.");
    if (!first && document.getElementById("head-card")) {
      document.getElementById("head-card").replaceWith(headCard);
      document.getElementById("entries-slot").replaceChildren(list);
      return null;
    }
    const seqInput = el("input", { id: "verify-seq", type: "number", min: 1, max: head.treeSize || 1 });
    const form = el("form", { class: "filters" }, el("label", { for: "verify-seq" }, "Entry number", seqInput),
      el("button", { type: "submit", class: "primary" }, "Verify inclusion"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (seqInput.value) verifyEntry(Number(seqInput.value), document.getElementById("verify-out"));
    });
    return el("section", { "aria-labelledby": "ledger-title" },
      el("h1", { id: "ledger-title" }, "Audit ledger"), headCard,
      el("p", { class: "note" }, "Verification runs here, with WebCrypto SHA-256: the entry's leaf hash and its audit path must give the head's root (RFC 9162, section 2.1.3.2)."),
      form, el("div", { id: "verify-out", "aria-live": "polite" }),
      el("div", { id: "entries-slot" }, list));
  },
};

// -- simulation report -------------------------------------------------------------------

const reportPage = {
  live: false,
  async render() {
    const frame = el("div", { id: "report-slot" },
      el("p", { class: "empty" }, "No report loaded. Run `suanli simulate` (it writes suanli-report.html) and choose the file above."));
    const input = el("input", { id: "report-file", type: "file", accept: ".html,text/html" });
    input.addEventListener("change", async () => {
      const file = input.files[0];
      if (!file) return;
      const text = await file.text();
      if (!text.includes("Suanli simulation")) {
        frame.replaceChildren(el("p", { class: "error", role: "alert" }, `${file.name} is not a report of suanli simulate.`));
        return;
      }
      frame.replaceChildren(el("p", { class: "note" }, `${file.name} (${fmt(file.size / 1e6, 1)} MB)`),
        el("iframe", { class: "report", title: `Simulation report ${file.name}`, sandbox: "allow-scripts", srcdoc: text }));
    });
    return el("section", { "aria-labelledby": "report-title" },
      el("h1", { id: "report-title" }, "Simulation report"),
      el("p", { class: "note" }, "The report of a `suanli simulate` run is self-contained; it is shown here from your disk, nothing is uploaded."),
      el("div", { class: "filters" }, el("label", { for: "report-file" }, "Report file", input)), frame);
  },
};

export const PAGES = {
  map: mapPage, sites: sitePage, queues: queuesPage, jobs: jobsPage, approvals: approvalsPage,
  ledger: ledgerPage, report: reportPage,
};
// "#/jobs/<id>" is the job page
const jobs = PAGES.jobs;
PAGES.jobs = {
  nav: "jobs",
  render: (ctx) => (ctx.args[0] ? jobPage.render(ctx) : jobs.render(ctx)),
};
