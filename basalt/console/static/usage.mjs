// Usage and cost (GET /admin/usage for an admin key, GET /v1/usage for a project key, which the server limits to its
// own project) and the ledger's rows (the same routes with records=1).
import { useState } from "./vendor/hooks.mjs";
import { api, csv, download, html, useLoad, usd, when, Bars, Field, Problem, Select, Table } from "./lib.mjs";

const usagePath = (who) => (who.admin ? "/admin/usage" : "/v1/usage");
const SPANS = [{ value: "1", label: "last day" }, { value: "7", label: "last 7 days" },
  { value: "30", label: "last 30 days" }, { value: "", label: "all time" }];
const COLUMNS = ["requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
  "cost_usd"];

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
  return q.toString();
}

const sinceDays = (days) => (days ? String(Math.floor(Date.now() / 1000 - Number(days) * 86400)) : "");
const startOf = (unit) => { const d = new Date(); d.setUTCHours(0, 0, 0, 0); if (unit === "month") d.setUTCDate(1);
  return String(d.getTime() / 1000); };

function Budgets({ who }) {
  const path = usagePath(who);
  const [data, error] = useLoad(async () => {
    const projects = who.admin ? (await api("/admin/projects")).data : [who.project];
    const [day, month] = await Promise.all(["day", "month"].map((unit) =>
      api(`${path}?${query({ group_by: "project", since: startOf(unit) })}`)));
    const spent = (rows, id) => (rows.data.find((r) => r.project === id) || {}).cost_usd || 0;
    return projects.filter(Boolean).map((p) => ({ name: p.name, limits: p.limits,
      day: spent(day, p.id), month: spent(month, p.id) }));
  });
  const rows = (data || []).flatMap((p) => [["day", "daily_budget_usd"], ["month", "monthly_budget_usd"]]
    .filter(([, limit]) => p.limits[limit] !== null && p.limits[limit] !== undefined)
    .map(([span, limit]) => ({ name: p.name, span, spent: p[span], budget: p.limits[limit] })));
  return html`<h2>Spend against budget</h2><${Problem} error=${error} />
    <${Table} caption="Budgets" rows=${rows} empty="No project has a budget." columns=${[
      ["Project", (r) => r.name], ["Period", (r) => `this ${r.span} (UTC)`], ["Spent", (r) => usd(r.spent), "num"],
      ["Budget", (r) => usd(r.budget), "num"],
      ["Used", (r) => html`<meter min="0" max=${r.budget || 1} value=${r.spent}
        aria-label=${`${r.name}: ${usd(r.spent)} of ${usd(r.budget)} this ${r.span}`}></meter>`]]} />`;
}

export function Usage({ who }) {
  const groups = ["day", "model", ...(who.admin ? ["project"] : []), "key", "deployment"];
  const [group, setGroup] = useState("day");
  const [days, setDays] = useState("30");
  const [report, error] = useLoad(() => api(`${usagePath(who)}?${query({ group_by: group, since: sinceDays(days) })}`),
    [group, days]);
  const rows = report ? report.data : [];
  const label = (r) => (r[group] === null || r[group] === undefined ? "(none)" : r[group]);
  return html`<div class="row">
      <${Select} label="Group by" value=${group} onChange=${setGroup} options=${groups} />
      <${Select} label="Period" value=${days} onChange=${setDays} options=${SPANS} />
      <div><button class="secondary" disabled=${!rows.length}
        onClick=${() => download(`basalt-usage-by-${group}.csv`, csv(rows, [group, ...COLUMNS]), "text/csv")}>
        Export CSV</button></div>
    </div>
    <${Problem} error=${error} />
    <div class="cols">
      <${Bars} title=${`Cost (USD) by ${group}`} items=${rows.map((r) => ({ label: label(r), value: r.cost_usd }))}
        format=${usd} />
      <${Bars} title=${`Tokens (input + output) by ${group}`} alt=${true}
        items=${rows.map((r) => ({ label: label(r), value: r.input_tokens + r.output_tokens }))} />
    </div>
    <${Table} caption=${`Usage by ${group}`} rows=${rows} empty="No usage in this period." columns=${[
      [group, (r) => html`<code>${label(r)}</code>`],
      ...COLUMNS.map((c) => [c.replace(/_/g, " "), (r) => (c === "cost_usd" ? usd(r[c]) : r[c]), "num"])]} />
    <${Budgets} who=${who} />`;
}

const STATUSES = ["", "ok", "error", "cancelled", "interrupted", "reserved"];

export function Requests({ who }) {
  const [filters, setFilters] = useState({ model: "", key: "", project: "", trace_id: "", status: "", days: "7" });
  const [applied, setApplied] = useState(filters);
  const set = (f) => (v) => setFilters({ ...filters, [f]: v });
  const [rows, error, reload] = useLoad(() => api(`${usagePath(who)}?${query({ records: "1", limit: "500",
    model: applied.model, key: applied.key, project: applied.project, trace_id: applied.trace_id,
    since: sinceDays(applied.days) })}`), [applied]);
  const shown = (rows ? rows.data : []).filter((r) => !applied.status || r.status === applied.status);
  return html`<form onSubmit=${(e) => { e.preventDefault(); setApplied(filters); reload(); }}
      aria-label="Filter requests">
    <div class="row">
      <${Field} label="Model" value=${filters.model} onInput=${set("model")} />
      <${Field} label="Key id" value=${filters.key} onInput=${set("key")} />
      ${who.admin && html`<${Field} label="Project id" value=${filters.project} onInput=${set("project")} />`}
      <${Field} label="Trace id" value=${filters.trace_id} onInput=${set("trace_id")} />
      <${Select} label="Status" value=${filters.status} onChange=${set("status")}
        options=${STATUSES.map((s) => ({ value: s, label: s || "any" }))} />
      <${Select} label="Period" value=${filters.days} onChange=${set("days")} options=${SPANS} />
      <div><button type="submit">Filter</button></div>
    </div></form>
    <${Problem} error=${error} />
    <p class="muted">${shown.length} request${shown.length === 1 ? "" : "s"} (newest first, at most 500).</p>
    <${Table} caption="Requests" rows=${shown} empty="No requests match." columns=${[
      ["Started", (r) => when(r.started_at)], ["Request", (r) => html`<code>${r.request_id}</code>`],
      ["Model", (r) => r.model], ["Key", (r) => html`<code>${r.key_id || ""}</code>`],
      ["Status", (r) => html`<span class=${r.status === "ok" ? "ok" : "warn"}>${r.status}${
        r.error_type ? ` (${r.error_type})` : ""}</span>`],
      ["In", (r) => r.input_tokens, "num"], ["Out", (r) => r.output_tokens, "num"],
      ["Cost", (r) => usd(r.cost_usd), "num"], ["Guardrail", (r) => r.guardrail_action || "—"],
      ["Trace", (r) => (r.trace_id ? html`<code>${r.trace_id}</code>` : "—")],
      ["Batch", (r) => r.batch_id || "—"]]} />`;
}
