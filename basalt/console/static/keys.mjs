// Keys and projects (the admin API): create a project or a key (its secret shown once, never stored by the
// console), scopes, expiry, limits, budgets, revoke. A project key sees only itself and its project.
import { useState } from "./vendor/hooks.mjs";
import { api, html, useLoad, when, usd, Check, Field, Problem, Select, Table } from "./lib.mjs";

const LIMITS = [["rpm", "Requests per minute"], ["input_tpm", "Input tokens per minute"],
  ["output_tpm", "Output tokens per minute"], ["max_concurrency", "Concurrent requests"],
  ["daily_budget_usd", "Daily budget (USD)"], ["monthly_budget_usd", "Monthly budget (USD)"]];

function limitsOf(form) {
  const out = {};
  for (const [name] of LIMITS) if (form[name] !== "") out[name] = Number(form[name]);
  return out;
}

function Limits({ form, set }) {
  return html`<div class="row">${LIMITS.map(([name, label]) =>
    html`<${Field} label=${label} type="number" min="0" value=${form[name]} onInput=${set(name)} />`)}</div>`;
}

function describeLimits(limits) {
  const parts = Object.entries(limits || {}).filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k} ${k.endsWith("usd") ? usd(v) : v}`);
  return parts.length ? parts.join(", ") : "none";
}

const blank = () => Object.fromEntries(LIMITS.map(([n]) => [n, ""]));

function NewProject({ onCreated }) {
  const [form, setForm] = useState({ name: "", ...blank() });
  const [error, setError] = useState(null);
  const set = (f) => (v) => setForm({ ...form, [f]: v });
  async function submit(event) {
    event.preventDefault(); setError(null);
    try { await api("/admin/projects", { method: "POST", body: { name: form.name, ...limitsOf(form) } });
      setForm({ name: "", ...blank() }); onCreated(); } catch (e) { setError(e); }
  }
  return html`<form class="panel" onSubmit=${submit} aria-label="New project">
    <h3>New project</h3>
    <${Field} label="Project name" value=${form.name} onInput=${set("name")} required />
    <${Limits} form=${form} set=${set} />
    <p><button type="submit">Create project</button></p><${Problem} error=${error} />
  </form>`;
}

function NewKey({ projects, endpoints, onCreated }) {
  const [form, setForm] = useState({ name: "", project: "", admin: false, models: "", endpoints: [],
    expiresIn: "", ...blank() });
  const [error, setError] = useState(null);
  const [made, setMade] = useState(null);
  const set = (f) => (v) => setForm({ ...form, [f]: v });
  const project = form.project || (projects[0] ? projects[0].id : "");
  async function submit(event) {
    event.preventDefault(); setError(null); setMade(null);
    const body = { name: form.name, ...limitsOf(form) };
    if (form.admin) body.admin = true; else body.project = project;
    if (form.models.trim()) body.models = form.models.split(",").map((m) => m.trim()).filter(Boolean);
    if (form.endpoints.length) body.endpoints = form.endpoints;
    if (form.expiresIn) body.expires_in = Number(form.expiresIn) * 86400;
    try { const key = await api("/admin/keys", { method: "POST", body }); setMade(key); onCreated(); }
    catch (e) { setError(e); }
  }
  const toggle = (name) => (on) => setForm({ ...form,
    endpoints: on ? [...form.endpoints, name] : form.endpoints.filter((e) => e !== name) });
  return html`<form class="panel" onSubmit=${submit} aria-label="New key">
    <h3>New key</h3>
    <div class="row">
      <${Field} label="Key name" value=${form.name} onInput=${set("name")} required />
      <${Select} label="Project" value=${project} onChange=${set("project")} disabled=${form.admin}
        options=${projects.map((p) => ({ value: p.id, label: p.name }))} />
      <${Field} label="Expires in (days, empty: never)" type="number" min="1" value=${form.expiresIn}
        onInput=${set("expiresIn")} />
    </div>
    <${Check} label="Admin key (sees and manages everything)" checked=${form.admin} onChange=${set("admin")} />
    <${Field} label="Models it may call (glob patterns, comma-separated; empty: all)" value=${form.models}
      onInput=${set("models")} />
    <fieldset><legend>Endpoints it may call (none ticked: all but admin)</legend>
      ${endpoints.map((e) => html`<${Check} label=${e} checked=${form.endpoints.includes(e)} onChange=${toggle(e)} />`)}
    </fieldset>
    <${Limits} form=${form} set=${set} />
    <p><button type="submit">Create key</button></p>
    <${Problem} error=${error} />
    ${made && html`<div class="secret" role="status">
      <p><strong>Key ${made.name} (${made.id}).</strong> Copy it now: it is shown once and Basalt keeps only a hash.</p>
      <p><code data-testid="new-key">${made.key}</code></p></div>`}
  </form>`;
}

export function Keys({ who }) {
  return who.admin ? html`<${AdminKeys} endpoints=${who.endpoints} />` : html`<${OwnKey} who=${who} />`;
}

function OwnKey({ who }) {
  return html`<p>This key can see only itself and its project; keys are managed with an admin key.</p>
      <${Table} caption="This key" rows=${[who.key]} columns=${[["Key", (k) => k.name], ["Id", (k) => html`<code>${k.id}</code>`],
        ["Scopes", (k) => (k.endpoints ? k.endpoints.join(", ") : "all but admin")],
        ["Models", (k) => (k.models ? k.models.join(", ") : "all")], ["Limits", (k) => describeLimits(k.limits)],
        ["Expires", (k) => when(k.expires_at) || "never"]]} />
      <h2>Project</h2>
      <p><strong>${who.project.name}</strong> (<code>${who.project.id}</code>), limits: ${describeLimits(who.project.limits)}</p>`;
}

function AdminKeys({ endpoints }) {
  const [projects, projectError, reloadProjects] = useLoad(() => api("/admin/projects"));
  const [keys, keyError, reloadKeys] = useLoad(() => api("/admin/keys"));
  const [error, setError] = useState(null);
  const names = Object.fromEntries((projects ? projects.data : []).map((p) => [p.id, p.name]));
  async function revoke(key) {
    if (!confirm(`Revoke key ${key.name}? Calls with it fail from now on.`)) return;
    try { await api(`/admin/keys/${encodeURIComponent(key.id)}/revoke`, { method: "POST", body: {} }); reloadKeys(); }
    catch (e) { setError(e); }
  }
  return html`<${Problem} error=${projectError || keyError || error} />
    <h2>Projects</h2>
    <${Table} caption="Projects" rows=${projects && projects.data} columns=${[
      ["Project", (p) => p.name], ["Id", (p) => html`<code>${p.id}</code>`],
      ["Limits and budgets", (p) => describeLimits(p.limits)], ["Guardrail", (p) => p.guardrail || "—"],
      ["Created", (p) => when(p.created_at)]]} />
    <h2>Keys</h2>
    <${Table} caption="Keys" rows=${keys && keys.data} columns=${[
      ["Key", (k) => k.name], ["Id", (k) => html`<code>${k.id}</code>`],
      ["Project", (k) => (k.admin ? "admin" : names[k.project_id] || k.project_id)],
      ["Scopes", (k) => (k.endpoints ? k.endpoints.join(", ") : k.admin ? "all" : "all but admin")],
      ["Limits and budgets", (k) => describeLimits(k.limits)],
      ["Expires", (k) => when(k.expires_at) || "never"],
      ["State", (k) => (k.revoked_at ? html`<span class="error">revoked</span>` : "active")],
      ["", (k) => (k.revoked_at ? "" : html`<button class="danger" onClick=${() => revoke(k)}
        aria-label=${`Revoke key ${k.name}`}>Revoke</button>`)]]} />
    <div class="cols">
      <${NewProject} onCreated=${reloadProjects} />
      <${NewKey} projects=${projects ? projects.data : []} endpoints=${endpoints} onCreated=${reloadKeys} />
    </div>`;
}
