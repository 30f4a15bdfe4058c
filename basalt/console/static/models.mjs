// Models and deployments (GET /v1/models; GET /admin/deployments for health, cooldowns, load and recent errors) and
// the live engine load, read from /metrics every second.
import { useEffect, useRef, useState } from "./vendor/hooks.mjs";
import { api, html, useLoad, when, Problem, Table } from "./lib.mjs";

export function Models({ who }) {
  const [models, error] = useLoad(() => api("/v1/models"));
  const [deployments, deployError, reload] = useLoad(
    () => (who.admin ? api("/admin/deployments") : Promise.resolve(null)));
  return html`<${Problem} error=${error} />
    <h2>Served models</h2>
    <${Table} caption="Served models" rows=${models && models.data} columns=${[
      ["Model", (m) => html`<code>${m.id}</code>`], ["Name", (m) => m.display_name],
      ["Owner", (m) => m.owned_by || ""]]} />
    <h2>Deployments</h2>
    ${!who.admin ? html`<p class="muted">Deployment health is shown to admin keys.</p>` : html`
      <p><button class="secondary" onClick=${reload}>Refresh</button></p>
      <${Problem} error=${deployError} />
      <${Table} caption="Deployments" rows=${deployments && deployments.data.flatMap((m) =>
        m.deployments.map((d) => ({ ...d, name: m.model, kind: m.kind })))} columns=${[
        ["Model", (d) => html`<code>${d.name}</code>`], ["Deployment", (d) => d.deployment],
        ["Health", (d) => html`<span class=${d.health === "ok" ? "ok" : "warn"}>${d.health}</span>`],
        ["Cooldown", (d) => (d.cooldown_seconds ? `${d.cooldown_seconds.toFixed(1)} s` : "—")],
        ["Load", (d) => (d.load ? `${d.load.running} running, ${d.load.waiting} waiting`
          : d.in_flight !== undefined ? `${d.in_flight} in flight${d.max_concurrency ? ` of ${d.max_concurrency}` : ""}`
          : "—")],
        ["Recent errors", (d) => (d.recent_errors && d.recent_errors.length ? html`<ul>${d.recent_errors.map((e) =>
          html`<li>${when(e.at)} <code>${e.type}</code> ${e.message}</li>`)}</ul>` : "none")]]} />`}`;
}

// The Prometheus text format, enough of it for the engine's gauges and counters (summed over labels).
export function parseMetrics(text) {
  const values = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match) values[match[1]] = (values[match[1]] || 0) + Number(match[3]);
  }
  return values;
}

const GAUGES = [
  ["basalt_engine_running_sequences", "Running sequences"],
  ["basalt_engine_waiting_sequences", "Waiting sequences"],
  ["basalt_engine_kv_cells_used", "KV cells in use"],
  ["basalt_engine_kv_cells", "KV cells in all"],
];

export function Live() {
  const [sample, setSample] = useState(null);
  const [error, setError] = useState(null);
  const last = useRef(null);
  useEffect(() => {
    let live = true;
    async function tick() {
      try {
        const response = await fetch("/metrics", { credentials: "omit", cache: "no-store" });
        if (!response.ok) throw new Error(`/metrics answered ${response.status} (metrics may be off)`);
        const values = parseMetrics(await response.text());
        const now = performance.now();
        const tokens = values.basalt_engine_generated_tokens_total || 0;
        const before = last.current;
        const rate = before ? ((tokens - before.tokens) * 1000) / (now - before.at) : 0;
        last.current = { tokens, at: now };
        if (live) { setSample({ values, rate }); setError(null); }
      } catch (e) { if (live) setError(e); }
    }
    tick();
    const timer = setInterval(tick, 1000);
    return () => { live = false; clearInterval(timer); };
  }, []);
  const v = sample ? sample.values : {};
  const cells = v.basalt_engine_kv_cells || 0;
  const used = v.basalt_engine_kv_cells_used || 0;
  return html`<${Problem} error=${error} />
    <p class="muted">The local engine's load, from <code>/metrics</code>, every second.</p>
    <div class="stats" data-testid="live">
      ${GAUGES.map(([name, label]) => html`<div class="panel"><div>${label}</div>
        <div class="stat">${sample ? v[name] || 0 : "…"}</div></div>`)}
      <div class="panel"><div>KV cache use</div>
        <div class="stat">${cells ? `${((100 * used) / cells).toFixed(1)} %` : "…"}</div>
        <meter min="0" max=${cells || 1} value=${used} aria-label="KV cache use"></meter></div>
      <div class="panel"><div>Generated tokens per second</div>
        <div class="stat" data-testid="tok-s">${sample ? sample.rate.toFixed(1) : "…"}</div></div>
      <div class="panel"><div>Generated tokens in all</div>
        <div class="stat">${sample ? v.basalt_engine_generated_tokens_total || 0 : "…"}</div></div>
    </div>`;
}
