// Shared pieces: the session (the key lives in sessionStorage, never in a URL), the API client (the key goes in the
// x-api-key header), SSE reading, and small accessible components (fields, tables, bar charts, downloads).
import { h } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";

export const html = htm.bind(h);
const KEY = "basalt.console.key";

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

export function errorText(body, status) {
  if (body && typeof body === "object") {
    const e = body.error;
    if (e && typeof e === "object" && e.message) return e.message;
    if (body.message) return body.message;
  }
  return typeof body === "string" && body ? body.slice(0, 500) : `HTTP ${status}`;
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  if (session.key) headers["x-api-key"] = session.key;
  return headers;
}

// One request to Basalt's own APIs. `raw` returns the Response itself (streams, downloads).
export async function api(path, { method = "GET", body, headers = {}, raw = false, key } = {}) {
  const all = authHeaders(headers);
  if (key !== undefined) { if (key) all["x-api-key"] = key; else delete all["x-api-key"]; }
  if (body !== undefined) all["content-type"] = "application/json";
  const response = await fetch(path, {
    method, headers: all, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store", redirect: "error",
  });
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
  if (!response.ok) throw new ApiError(response.status, errorText(data, response.status), data);
  return data;
}

// Server-sent events from a streamed response: calls onEvent(name, data) for each event as it arrives.
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

// Loads `load()` on mount and whenever `deps` change; returns [data, error, reload].
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then((data) => live && setState({ data, error: null }),
      (error) => live && setState({ data: null, error }));
    return () => { live = false; };
  }, [...deps, tick]);
  return [state.data, state.error, () => setTick((t) => t + 1)];
}

let ids = 0;
export function useId(prefix) { const [id] = useState(() => `${prefix}-${++ids}`); return id; }

export function Field({ label, value, onInput, type = "text", hint, ...rest }) {
  const id = useId("f");
  const hintId = hint ? `${id}-hint` : undefined;
  return html`<div>
    <label for=${id}>${label}</label>
    <input id=${id} type=${type} value=${value} aria-describedby=${hintId}
      onInput=${(e) => onInput(e.currentTarget.value)} ...${rest} />
    ${hint && html`<div id=${hintId} class="muted">${hint}</div>`}
  </div>`;
}

export function Area({ label, value, onInput, rows = 5, ...rest }) {
  const id = useId("t");
  return html`<div>
    <label for=${id}>${label}</label>
    <textarea id=${id} rows=${rows} value=${value} onInput=${(e) => onInput(e.currentTarget.value)} ...${rest}></textarea>
  </div>`;
}

export function Select({ label, value, onChange, options, ...rest }) {
  const id = useId("s");
  return html`<div>
    <label for=${id}>${label}</label>
    <select id=${id} value=${value} onChange=${(e) => onChange(e.currentTarget.value)} ...${rest}>
      ${options.map((o) => (typeof o === "string" ? { value: o, label: o } : o))
        .map((o) => html`<option value=${o.value} selected=${o.value === value}>${o.label}</option>`)}
    </select>
  </div>`;
}

export function Check({ label, checked, onChange }) {
  return html`<label class="inline"><input type="checkbox" checked=${checked}
    onChange=${(e) => onChange(e.currentTarget.checked)} />${label}</label>`;
}

export function Problem({ error }) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  return html`<p class="error" role="alert">${text}</p>`;
}

// A table of rows; columns are [header, row => cell, className?].
export function Table({ caption, columns, rows, empty = "Nothing yet." }) {
  if (!rows || !rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<table>
    <caption class="skip">${caption}</caption>
    <thead><tr>${columns.map(([head, , cls]) => html`<th scope="col" class=${cls || ""}>${head}</th>`)}</tr></thead>
    <tbody>${rows.map((row, i) => html`<tr key=${i}>${columns.map(([, cell, cls]) =>
      html`<td class=${cls || ""}>${cell(row)}</td>`)}</tr>`)}</tbody>
  </table>`;
}

// A horizontal bar chart in SVG (no chart library: a few dozen bars need none), described for screen readers.
export function Bars({ title, items, format = (v) => String(v), alt = false }) {
  if (!items.length) return html`<p class="muted">No data for ${title}.</p>`;
  const max = Math.max(...items.map((i) => i.value), 1e-12);
  const row = 22, labelWidth = 190, width = 640;
  return html`<figure>
    <svg role="img" aria-label=${`${title}: ${items.map((i) => `${i.label} ${format(i.value)}`).join(", ")}`}
      width="100%" viewBox=${`0 0 ${width} ${items.length * row + 4}`} preserveAspectRatio="xMinYMin meet">
      ${items.map((item, n) => html`<g key=${n}>
        <text x="0" y=${n * row + 15}>${String(item.label).slice(0, 30)}</text>
        <rect class=${alt ? "bar alt" : "bar"} x=${labelWidth} y=${n * row + 3}
          width=${Math.max(1, ((width - labelWidth - 90) * item.value) / max)} height=${row - 6} />
        <text x=${labelWidth + ((width - labelWidth - 90) * item.value) / max + 6} y=${n * row + 15}>
          ${format(item.value)}</text>
      </g>`)}
    </svg>
    <figcaption class="muted">${title}</figcaption>
  </figure>`;
}

export function download(name, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url; a.download = name; document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function csv(rows, columns) {
  const cell = (v) => { const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}

export const usd = (v) => `$${Number(v || 0).toFixed(6)}`;
export const when = (s) => (s ? new Date(s * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
