// Guardrails: the defined versions (GET /admin/guardrails), a new version from a form or YAML (validated first by
// POST /admin/guardrails/check, errors shown beside the field; then POST /admin/guardrails), and a test panel on
// the ApplyGuardrail route (POST /v1/guardrails/{id}/versions/{version}/apply) that highlights what was found.
import { useState } from "./vendor/hooks.mjs";
import { api, html, useLoad, Area, Check, Field, Problem, Select, Table } from "./lib.mjs";

const ENTITIES = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "MAC_ADDRESS", "URL",
  "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "API_KEY", "PASSWORD"];
const EXAMPLE = `name: support-pii
version: 1
description: Mask contact details, block a word
sensitive_information:
  entities:
    - type: EMAIL
      action: ANONYMIZE
    - type: PHONE
      action: ANONYMIZE
words:
  words: [confidential]
`;

function policies(g) {
  const out = [];
  if (g.sensitive_information) {
    const s = g.sensitive_information;
    if (s.entities.length) out.push(`PII: ${s.entities.map((e) => `${e.type} ${e.action}`).join(", ")}`);
    if (s.regexes.length) out.push(`regexes: ${s.regexes.map((r) => r.name).join(", ")}`);
  }
  if (g.words && (g.words.words.length || g.words.managed_profanity)) out.push(`words: ${g.words.words.length}`);
  if (g.topics && g.topics.length) out.push(`topics: ${g.topics.map((t) => t.name).join(", ")}`);
  if (g.content && g.content.length) out.push(`content: ${g.content.map((c) => c.type).join(", ")}`);
  if (g.grounding) out.push("grounding");
  return out.join("; ") || "no policy";
}

function fromForm(form) {
  const definition = { name: form.name, version: form.version || "DRAFT" };
  if (form.description) definition.description = form.description;
  if (form.entities.length) {
    definition.sensitive_information = { entities: form.entities.map((type) => ({ type, action: form.piiAction })) };
  }
  const words = form.words.split(",").map((w) => w.trim()).filter(Boolean);
  if (words.length) definition.words = { words };
  return definition;
}

function Errors({ errors, id }) {
  if (!errors || !errors.length) return null;
  return html`<div id=${id} role="alert" class="error"><p>The definition is not valid:</p><ul>
    ${errors.map((e) => html`<li><code>${e.loc.join(".") || "(top)"}</code>: ${e.msg}</li>`)}</ul></div>`;
}

function Create({ onCreated }) {
  const [mode, setMode] = useState("form");
  const [form, setForm] = useState({ name: "", version: "1", description: "", entities: [], piiAction: "ANONYMIZE",
    words: "" });
  const [text, setText] = useState(EXAMPLE);
  const [errors, setErrors] = useState(null);
  const [error, setError] = useState(null);
  const [made, setMade] = useState(null);
  const set = (f) => (v) => setForm({ ...form, [f]: v });
  const toggle = (type) => (on) => setForm({ ...form,
    entities: on ? [...form.entities, type] : form.entities.filter((t) => t !== type) });
  async function submit(event) {
    event.preventDefault(); setError(null); setErrors(null); setMade(null);
    try {
      const body = mode === "yaml" ? { yaml: text } : { definition: fromForm(form) };
      const checked = await api("/admin/guardrails/check", { method: "POST", body });
      if (!checked.valid) { setErrors(checked.errors); return; }
      const created = await api("/admin/guardrails", { method: "POST", body: checked.definition });
      setMade(created); onCreated();
    } catch (e) { setError(e); }
  }
  const invalid = errors && errors.length ? "true" : undefined;
  return html`<form class="panel" onSubmit=${submit} aria-label="New guardrail version">
    <h2>New guardrail version</h2>
    <div class="tabs" role="group" aria-label="Define with">
      <button type="button" aria-pressed=${mode === "form" ? "true" : "false"} class=${mode === "form" ? "" : "secondary"}
        onClick=${() => setMode("form")}>Form</button>
      <button type="button" aria-pressed=${mode === "yaml" ? "true" : "false"} class=${mode === "yaml" ? "" : "secondary"}
        onClick=${() => setMode("yaml")}>YAML</button>
    </div>
    ${mode === "yaml" ? html`<${Area} label="Definition (YAML)" value=${text} onInput=${setText} rows="12"
        aria-invalid=${invalid} aria-describedby=${invalid && "guardrail-errors"} />`
      : html`<div class="row">
          <${Field} label="Guardrail name" value=${form.name} onInput=${set("name")}
            aria-invalid=${invalid} aria-describedby=${invalid && "guardrail-errors"} />
          <${Field} label="Version (a number, or DRAFT)" value=${form.version} onInput=${set("version")} />
          <${Field} label="Description" value=${form.description} onInput=${set("description")} />
        </div>
        <fieldset><legend>Sensitive information to find</legend>
          ${ENTITIES.map((t) => html`<${Check} label=${t} checked=${form.entities.includes(t)} onChange=${toggle(t)} />`)}
        </fieldset>
        <${Select} label="What to do with it" value=${form.piiAction} onChange=${set("piiAction")}
          options=${["ANONYMIZE", "BLOCK", "NONE"]} />
        <${Field} label="Denied words (comma-separated)" value=${form.words} onInput=${set("words")} />`}
    <${Errors} errors=${errors} id="guardrail-errors" />
    <p><button type="submit">Validate and create</button></p>
    <${Problem} error=${error} />
    ${made && html`<p class="ok" role="status">Created ${made.name} version ${made.version}.</p>`}
  </form>`;
}

// The text with every match the assessment names marked.
export function highlight(text, assessments) {
  const matches = [];
  for (const assessment of assessments || []) {
    for (const policy of Object.values(assessment)) {
      for (const list of Object.values(policy)) {
        for (const f of list) if (f.match) matches.push({ match: f.match, what: f.type || f.name || "match" });
      }
    }
  }
  const spans = [];
  for (const { match, what } of matches) {
    let at = text.indexOf(match);
    while (at >= 0) { spans.push([at, at + match.length, what]); at = text.indexOf(match, at + match.length); }
  }
  spans.sort((a, b) => a[0] - b[0]);
  const parts = [];
  let pos = 0;
  for (const [start, end, what] of spans) {
    if (start < pos) continue;
    parts.push(text.slice(pos, start), html`<mark title=${what}>${text.slice(start, end)}<span class="skip">
      (${what})</span></mark>`);
    pos = end;
  }
  parts.push(text.slice(pos));
  return parts;
}

function TestPanel({ names }) {
  const [chosen, setChosen] = useState("");
  const [source, setSource] = useState("INPUT");
  const [text, setText] = useState("Write to jane.doe@example.com or call +1 415 555 0100.");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const guardrail = chosen || names[0] || "";
  async function submit(event) {
    event.preventDefault(); setError(null); setResult(null);
    const [id, version] = guardrail.split(":");
    try {
      setResult(await api(`/v1/guardrails/${encodeURIComponent(id)}/versions/${encodeURIComponent(version)}/apply`,
        { method: "POST", body: { source, content: [{ text: { text } }], outputScope: "FULL" } }));
    } catch (e) { setError(e); }
  }
  return html`<form class="panel" onSubmit=${submit} aria-label="Test a guardrail">
    <h2>Test a guardrail</h2>
    <div class="row">
      <${Select} label="Guardrail" value=${guardrail} onChange=${setChosen} options=${names} />
      <${Select} label="Checked as" value=${source} onChange=${setSource} options=${[
        { value: "INPUT", label: "input (a prompt)" }, { value: "OUTPUT", label: "output (an answer)" }]} />
    </div>
    <${Area} label="Text to check" value=${text} onInput=${setText} rows="3" />
    <p><button type="submit" disabled=${!guardrail}>Apply guardrail</button></p>
    <${Problem} error=${error} />
    ${result && html`<div role="status">
      <p>Action: <strong data-testid="guardrail-action">${result.action}</strong> (${result.actionReason})</p>
      <h3>What each policy found</h3>
      <p class="output" data-testid="guardrail-highlight">${highlight(text, result.assessments)}</p>
      <h3>Text passed on</h3>
      <p class="output" data-testid="guardrail-output">${(result.outputs || []).map((o) => o.text).join("\n")}</p>
      <details><summary>Assessments</summary><pre>${JSON.stringify(result.assessments, null, 2)}</pre></details>
    </div>`}
  </form>`;
}

export function Guardrails({ who }) {
  const [list, error, reload] = useLoad(() => (who.admin ? api("/admin/guardrails") : Promise.resolve({ data: [] })));
  const rows = list ? list.data : [];
  const names = rows.map((g) => `${g.name}:${g.version}`);
  const [typed, setTyped] = useState("");
  return html`<${Problem} error=${error} />
    ${who.admin ? html`<h2>Defined guardrails</h2>
      <${Table} caption="Guardrails" rows=${rows} empty="No guardrail defined yet." columns=${[
        ["Name", (g) => html`<code>${g.name}</code>`], ["Version", (g) => g.version],
        ["Description", (g) => g.description || ""], ["Policies", policies],
        ["Stream mode", (g) => g.stream_mode]]} />
      <div class="cols"><${Create} onCreated=${reload} /><${TestPanel} names=${names} /></div>`
    : html`<p>Listing and defining guardrails needs an admin key; a key with the guardrails scope can test one by
        name.</p>
      <${Field} label="Guardrail to test (name:version)" value=${typed} onInput=${setTyped} />
      <${TestPanel} names=${typed ? [typed] : []} />`}`;
}
