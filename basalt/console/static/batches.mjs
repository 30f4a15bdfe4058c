// Batches (the Message Batches API: submit, progress, cancel, download results) and evaluations (the OpenAI Evals
// API's shape: evals, their runs, pass rates, two runs side by side).
import { useEffect, useState } from "./vendor/hooks.mjs";
import { api, download, html, useLoad, when, Area, Bars, Field, Problem, Select, Table } from "./lib.mjs";

const total = (c) => c.processing + c.succeeded + c.errored + c.canceled + c.expired;

function Submit({ models, onSubmitted }) {
  const [model, setModel] = useState("");
  const [prompts, setPrompts] = useState("Name a colour.\nSay hello.\nWhat is 2+2?");
  const [maxTokens, setMaxTokens] = useState("16");
  const [error, setError] = useState(null);
  const chosen = model || models[0] || "";
  async function submit(event) {
    event.preventDefault(); setError(null);
    const lines = prompts.split("\n").map((l) => l.trim()).filter(Boolean);
    const requests = lines.map((prompt, i) => ({ custom_id: `line-${i + 1}`,
      params: { model: chosen, max_tokens: Number(maxTokens), messages: [{ role: "user", content: prompt }] } }));
    try { onSubmitted(await api("/v1/messages/batches", { method: "POST", body: { requests } })); }
    catch (e) { setError(e); }
  }
  return html`<form class="panel" onSubmit=${submit} aria-label="New batch">
    <h2>New batch</h2>
    <div class="row">
      <${Select} label="Model" value=${chosen} onChange=${setModel} options=${models} />
      <${Field} label="Max tokens per answer" type="number" min="1" value=${maxTokens} onInput=${setMaxTokens} />
    </div>
    <${Area} label="Prompts, one a line" value=${prompts} onInput=${setPrompts} rows="4" />
    <p><button type="submit">Submit batch</button></p>
    <${Problem} error=${error} />
  </form>`;
}

export function Batches() {
  const [models] = useLoad(() => api("/v1/models"));
  const [list, error, reload] = useLoad(() => api("/v1/messages/batches?limit=50"));
  const [problem, setProblem] = useState(null);
  const rows = list ? list.data : [];
  const running = rows.some((b) => b.processing_status !== "ended");
  useEffect(() => {  // progress: poll while a batch is still running
    if (!running) return undefined;
    const timer = setTimeout(reload, 1000);
    return () => clearTimeout(timer);
  }, [list]);
  async function cancel(batch) {
    try { await api(`/v1/messages/batches/${encodeURIComponent(batch.id)}/cancel`, { method: "POST" }); reload(); }
    catch (e) { setProblem(e); }
  }
  async function results(batch) {
    try {
      const response = await api(`/v1/messages/batches/${encodeURIComponent(batch.id)}/results`, { raw: true });
      download(`${batch.id}.jsonl`, await response.text(), "application/jsonl");
    } catch (e) { setProblem(e); }
  }
  return html`<${Submit} models=${(models ? models.data : []).map((m) => m.id)} onSubmitted=${reload} />
    <h2>Batches</h2>
    <${Problem} error=${error || problem} />
    <${Table} caption="Batches" rows=${rows} empty="No batch yet." columns=${[
      ["Batch", (b) => html`<code>${b.id}</code>`], ["Created", (b) => String(b.created_at).replace("T", " ").slice(0, 19)],
      ["Status", (b) => html`<span data-testid="batch-status" class=${b.processing_status === "ended" ? "ok" : "warn"}>
        ${b.processing_status}</span>`],
      ["Progress", (b) => html`<progress max=${total(b.request_counts) || 1}
        value=${total(b.request_counts) - b.request_counts.processing}
        aria-label=${`Batch ${b.id} progress`}></progress>
        ${" "}${total(b.request_counts) - b.request_counts.processing} / ${total(b.request_counts)}`],
      ["Succeeded", (b) => b.request_counts.succeeded, "num"], ["Errored", (b) => b.request_counts.errored, "num"],
      ["Canceled", (b) => b.request_counts.canceled, "num"],
      ["", (b) => (b.processing_status === "ended"
        ? html`<button class="secondary" onClick=${() => results(b)} aria-label=${`Download results of ${b.id}`}>
            Results</button>`
        : b.processing_status === "in_progress"
          ? html`<button class="danger" onClick=${() => cancel(b)} aria-label=${`Cancel ${b.id}`}>Cancel</button>`
          : "")]]} />`;
}

const rate = (run) => { const c = run.result_counts || {}; return c.total ? c.passed / c.total : 0; };

function Compare({ runs }) {
  const [a, setA] = useState("");
  const [b, setB] = useState("");
  const ids = runs.map((r) => ({ value: r.id, label: `${r.name || r.id} (${r.status})` }));
  const first = runs.find((r) => r.id === (a || (runs[0] && runs[0].id)));
  const second = runs.find((r) => r.id === (b || (runs[1] && runs[1].id)));
  const criteria = (run) => Object.fromEntries((run && run.per_testing_criteria_results || [])
    .map((c) => [c.testing_criteria, c]));
  const left = criteria(first), right = criteria(second);
  const names = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  const pct = (c) => (c ? `${((100 * c.passed) / Math.max(1, c.passed + c.failed)).toFixed(1)} %` : "—");
  return html`<h3>Two runs side by side</h3>
    <div class="row">
      <${Select} label="First run" value=${first ? first.id : ""} onChange=${setA} options=${ids} />
      <${Select} label="Second run" value=${second ? second.id : ""} onChange=${setB} options=${ids} />
    </div>
    <${Table} caption="Run comparison" rows=${["(all)", ...names]} columns=${[
      ["Criterion", (n) => n],
      [first ? first.name || first.id : "first", (n) => (n === "(all)" && first ? `${(100 * rate(first)).toFixed(1)} %`
        : pct(left[n])), "num"],
      [second ? second.name || second.id : "second", (n) => (n === "(all)" && second
        ? `${(100 * rate(second)).toFixed(1)} %` : pct(right[n])), "num"]]} />`;
}

function EvalRuns({ evaluation }) {
  const [runs, error] = useLoad(() => api(`/v1/evals/${encodeURIComponent(evaluation.id)}/runs?limit=50`),
    [evaluation.id]);
  const rows = runs ? runs.data : [];
  return html`<${Problem} error=${error} />
    <${Bars} title="Pass rate by run" format=${(v) => `${(100 * v).toFixed(1)} %`}
      items=${rows.map((r) => ({ label: r.name || r.id, value: rate(r) }))} />
    <${Table} caption="Runs" rows=${rows} empty="No run yet." columns=${[
      ["Run", (r) => html`<code>${r.id}</code>`], ["Name", (r) => r.name || ""], ["Model", (r) => r.model || ""],
      ["Status", (r) => r.status], ["Passed", (r) => (r.result_counts || {}).passed, "num"],
      ["Failed", (r) => (r.result_counts || {}).failed, "num"], ["Errored", (r) => (r.result_counts || {}).errored, "num"],
      ["Created", (r) => when(r.created_at)]]} />
    ${rows.length > 1 && html`<${Compare} runs=${rows} />`}`;
}

export function Evaluations() {
  const [evals, error] = useLoad(() => api("/v1/evals?limit=50"));
  const [chosen, setChosen] = useState("");
  if (error && error.status === 404) {
    return html`<p role="status">This server does not serve the Evaluations API yet (<code>/v1/evals</code>); the
      page shows evaluations and their runs once it does.</p>`;
  }
  const rows = evals ? evals.data : [];
  const current = rows.find((e) => e.id === chosen) || rows[0];
  return html`<${Problem} error=${error} />
    <${Table} caption="Evaluations" rows=${rows} empty="No evaluation yet." columns=${[
      ["Evaluation", (e) => html`<code>${e.id}</code>`], ["Name", (e) => e.name || ""],
      ["Criteria", (e) => (e.testing_criteria || []).map((c) => c.name || c.type).join(", ")],
      ["Created", (e) => when(e.created_at)]]} />
    ${current && html`<${Select} label="Evaluation" value=${current.id} onChange=${setChosen}
      options=${rows.map((e) => ({ value: e.id, label: e.name || e.id }))} />
      <h2>Runs of ${current.name || current.id}</h2><${EvalRuns} evaluation=${current} />`}`;
}
