// The playground: one request, built from the form, sent in either dialect, streamed as it arrives; an optional
// second model answers the same request beside it; "view code" shows the SDK call for exactly this request.
import { useState } from "./vendor/hooks.mjs";
import { api, html, readEvents, authHeaders, errorText, useLoad, Area, Check, Field, Problem, Select } from "./lib.mjs";
import { snippets } from "./snippets.mjs";

function parseJson(text, what) {
  if (!text.trim()) return undefined;
  try { return JSON.parse(text); } catch (e) { throw new Error(`${what}: not valid JSON (${e.message})`); }
}

// The form as one dialect-neutral description; anthropicBody / openaiBody write it in each wire format.
export function buildSpec(form, model) {
  const tools = parseJson(form.tools, "Tools");
  if (tools !== undefined && !Array.isArray(tools)) throw new Error("Tools: a JSON array of tools");
  return {
    model, system: form.system.trim(), prompt: form.prompt, stream: form.stream,
    max_tokens: Number(form.maxTokens), temperature: form.temperature === "" ? undefined : Number(form.temperature),
    top_p: form.topP === "" ? undefined : Number(form.topP),
    tools: tools || [], tool_choice: form.toolChoice, schema: parseJson(form.schema, "JSON schema"),
    guardrails: form.guardrails.trim(),
  };
}

export function anthropicBody(spec) {
  const body = { model: spec.model, max_tokens: spec.max_tokens, messages: [{ role: "user", content: spec.prompt }] };
  if (spec.system) body.system = spec.system;
  if (spec.temperature !== undefined) body.temperature = spec.temperature;
  if (spec.top_p !== undefined) body.top_p = spec.top_p;
  if (spec.stream) body.stream = true;
  if (spec.tools.length) {
    body.tools = spec.tools;
    if (spec.tool_choice.startsWith("tool:")) body.tool_choice = { type: "tool", name: spec.tool_choice.slice(5) };
    else body.tool_choice = { type: spec.tool_choice };
  }
  if (spec.schema) body.output_config = { format: { type: "json_schema", schema: spec.schema } };
  return body;
}

export function openaiBody(spec) {
  const messages = [];
  if (spec.system) messages.push({ role: "system", content: spec.system });
  messages.push({ role: "user", content: spec.prompt });
  const body = { model: spec.model, max_tokens: spec.max_tokens, messages };
  if (spec.temperature !== undefined) body.temperature = spec.temperature;
  if (spec.top_p !== undefined) body.top_p = spec.top_p;
  if (spec.stream) { body.stream = true; body.stream_options = { include_usage: true }; }
  if (spec.tools.length) {
    body.tools = spec.tools.map((t) => ({ type: "function",
      function: { name: t.name, description: t.description, parameters: t.input_schema || { type: "object" } } }));
    const choice = spec.tool_choice;
    body.tool_choice = choice.startsWith("tool:") ? { type: "function", function: { name: choice.slice(5) } }
      : choice === "any" ? "required" : choice;
  }
  if (spec.schema) body.response_format = { type: "json_schema", json_schema: { name: "output", schema: spec.schema } };
  return body;
}

export function guardrailHeaders(spec) {
  return spec.guardrails ? { "basalt-guardrail": spec.guardrails, "basalt-guardrail-trace": "enabled" } : {};
}

// Sends the request and reports each piece as it arrives: onUpdate({text, tools, usage, stop, guardrail, ...}).
export async function run(dialect, spec, onUpdate) {
  const anthropic = dialect === "anthropic";
  const path = anthropic ? "/v1/messages" : "/v1/chat/completions";
  const body = anthropic ? anthropicBody(spec) : openaiBody(spec);
  const started = performance.now();
  const state = { text: "", tools: [], usage: null, stop: null, guardrail: null, requestId: "", error: null,
    chunks: 0, firstMs: null, ms: null, done: false };
  const emit = () => onUpdate({ ...state, tools: state.tools.map((t) => ({ ...t })) });
  const response = await fetch(path, {
    method: "POST", credentials: "omit", cache: "no-store",
    headers: authHeaders({ "content-type": "application/json", ...guardrailHeaders(spec) }),
    body: JSON.stringify(body),
  });
  state.requestId = response.headers.get("request-id") || "";
  if (!response.ok) {
    const text = await response.text();
    let data = text; try { data = JSON.parse(text); } catch { /* keep the text */ }
    state.error = `${response.status}: ${errorText(data, response.status)}`;
    state.done = true; emit(); return;
  }
  const piece = () => { state.chunks += 1; if (state.firstMs === null) state.firstMs = performance.now() - started; };
  if (!spec.stream) {
    const data = await response.json();
    if (anthropic) foldAnthropic(state, data); else foldOpenai(state, data);
  } else if (anthropic) {
    await readEvents(response, (name, raw) => {
      const event = JSON.parse(raw);
      if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
        state.tools[event.index] = { name: event.content_block.name, json: "", input: null };
      } else if (event.type === "content_block_delta") {
        piece();
        if (event.delta.type === "text_delta") state.text += event.delta.text;
        else if (event.delta.type === "input_json_delta") state.tools[event.index].json += event.delta.partial_json;
      } else if (event.type === "message_delta") {
        state.stop = event.delta.stop_reason; state.usage = event.usage;
        if (event.guardrail) state.guardrail = event.guardrail;
      } else if (event.type === "error") state.error = event.error.message;
      emit();
    });
  } else {
    await readEvents(response, (name, raw) => {
      if (raw === "[DONE]") return;
      const chunk = JSON.parse(raw);
      if (chunk.error) state.error = chunk.error.message;
      if (chunk.usage) state.usage = chunk.usage;
      if (chunk.guardrail) state.guardrail = chunk.guardrail;
      for (const choice of chunk.choices || []) {
        const delta = choice.delta || {};
        if (delta.content) { piece(); state.text += delta.content; }
        for (const call of delta.tool_calls || []) {
          piece();
          const tool = (state.tools[call.index] ||= { name: "", json: "", input: null });
          if (call.function && call.function.name) tool.name = call.function.name;
          if (call.function && call.function.arguments) tool.json += call.function.arguments;
        }
        if (choice.finish_reason) state.stop = choice.finish_reason;
      }
      emit();
    });
  }
  state.tools = state.tools.filter(Boolean).map((t) => {
    try { return { ...t, input: t.input || JSON.parse(t.json || "{}") }; } catch { return { ...t, invalid: true }; }
  });
  state.ms = performance.now() - started; state.done = true; emit();
}

function foldAnthropic(state, message) {
  for (const block of message.content || []) {
    if (block.type === "text") state.text += block.text;
    if (block.type === "tool_use") state.tools.push({ name: block.name, json: JSON.stringify(block.input), input: block.input });
  }
  state.usage = message.usage; state.stop = message.stop_reason; state.guardrail = message.guardrail || null;
}

function foldOpenai(state, completion) {
  const choice = (completion.choices || [])[0] || {};
  const message = choice.message || {};
  state.text = message.content || "";
  for (const call of message.tool_calls || []) {
    state.tools.push({ name: call.function.name, json: call.function.arguments, input: null });
  }
  state.usage = completion.usage; state.stop = choice.finish_reason; state.guardrail = completion.guardrail || null;
}

function Answer({ label, result, testid }) {
  if (!result) return html`<section class="panel" aria-label=${label}><h2>${label}</h2>
    <p class="muted">No answer yet.</p></section>`;
  return html`<section class="panel" aria-label=${label} aria-busy=${result.done ? "false" : "true"}>
    <h2>${label}</h2>
    <div class="output" data-testid=${testid} aria-live="polite">${result.text}</div>
    ${result.error && html`<p class="error" role="alert">${result.error}</p>`}
    ${result.tools.map((t) => html`<div class="tool"><h3>Tool call: <code>${t.name}</code></h3>
      ${t.invalid ? html`<p class="error">Its input is not valid JSON: <code>${t.json}</code></p>`
        : html`<p class="muted">Input, decoded under the tool's schema (the server constrains it):</p>
          <pre data-testid="tool-input">${JSON.stringify(t.input ?? t.json, null, 2)}</pre>`}</div>`)}
    <p class="muted" data-testid=${`${testid}-meta`}>
      ${result.done ? "Done" : "Streaming…"}${result.stop ? ` · stop: ${result.stop}` : ""}
      ${result.usage ? ` · tokens in ${result.usage.input_tokens ?? result.usage.prompt_tokens ?? 0},
        out ${result.usage.output_tokens ?? result.usage.completion_tokens ?? 0}` : ""}
      ${result.firstMs !== null ? ` · first token ${result.firstMs.toFixed(0)} ms` : ""}
      ${result.ms !== null ? ` · ${result.ms.toFixed(0)} ms` : ""}
      ${result.requestId ? html` · request <code data-testid=${`${testid}-rid`}>${result.requestId}</code>` : ""}</p>
    ${result.guardrail && html`<h3>Guardrail trace</h3>
      <pre data-testid="guardrail-trace">${JSON.stringify(result.guardrail, null, 2)}</pre>`}
  </section>`;
}

const FORM = { system: "", prompt: "Say hello in five words.", maxTokens: "64", temperature: "0.7", topP: "",
  stream: true, tools: "", toolChoice: "auto", schema: "", guardrails: "" };

export function Playground({ who }) {
  const [models] = useLoad(() => api("/v1/models"));
  const [guardrails] = useLoad(() => (who.admin ? api("/admin/guardrails") : Promise.resolve({ data: [] })));
  const [form, setForm] = useState(FORM);
  const [dialect, setDialect] = useState("anthropic");
  const [model, setModel] = useState("");
  const [compare, setCompare] = useState(false);
  const [modelB, setModelB] = useState("");
  const [results, setResults] = useState([null, null]);
  const [error, setError] = useState(null);
  const [code, setCode] = useState(null);
  const names = (models ? models.data : []).map((m) => m.id);
  const chosen = model || names[0] || "";
  const chosenB = modelB || names[1] || names[0] || "";
  const set = (field) => (value) => setForm({ ...form, [field]: value });
  let toolNames = [];
  try { toolNames = (JSON.parse(form.tools || "[]") || []).map((t) => t.name).filter(Boolean); } catch { /* typing */ }
  // A forced tool that is no longer in the list falls back to auto.
  const stale = form.toolChoice.startsWith("tool:") && !toolNames.includes(form.toolChoice.slice(5));
  const current = stale ? { ...form, toolChoice: "auto" } : form;

  async function send(event) {
    event.preventDefault();
    setError(null);
    let specs;
    try { specs = [buildSpec(current, chosen), ...(compare ? [buildSpec(current, chosenB)] : [])]; }
    catch (e) { setError(e); return; }
    setResults([null, null]);
    await Promise.all(specs.map((spec, n) => run(dialect, spec, (r) => setResults((all) => {
      const next = [...all]; next[n] = r; return next;
    })).catch((e) => setError(e))));
  }

  // The code follows the form as it changes; a form that does not parse yet shows why instead.
  let shown = null;
  if (code) {
    try { shown = { tab: code.tab, ...snippets(buildSpec(current, chosen)) }; }
    catch (e) { shown = { tab: code.tab, anthropic: e.message, openai: e.message, boto3: e.message }; }
  }
  const showCode = () => setCode(code ? null : { tab: dialect === "anthropic" ? "anthropic" : "openai" });

  const modelOptions = names.map((n) => ({ value: n, label: n }));
  return html`<form onSubmit=${send} aria-label="Playground request">
    <div class="row">
      <${Select} label="Model" value=${chosen} onChange=${setModel} options=${modelOptions} />
      <${Select} label="API dialect" value=${dialect} onChange=${setDialect} options=${[
        { value: "anthropic", label: "Anthropic Messages" }, { value: "openai", label: "OpenAI Chat Completions" }]} />
      <div><${Check} label="Stream tokens" checked=${form.stream} onChange=${set("stream")} />
        <${Check} label="Compare with a second model" checked=${compare} onChange=${setCompare} /></div>
      ${compare && html`<${Select} label="Second model" value=${chosenB} onChange=${setModelB} options=${modelOptions} />`}
    </div>
    <${Area} label="System prompt" value=${form.system} onInput=${set("system")} rows="2" />
    <${Area} label="Prompt" value=${form.prompt} onInput=${set("prompt")} rows="3" />
    <div class="row">
      <${Field} label="Max tokens" type="number" min="1" value=${form.maxTokens} onInput=${set("maxTokens")} />
      <${Field} label="Temperature" type="number" min="0" max="2" step="0.1" value=${form.temperature}
        onInput=${set("temperature")} />
      <${Field} label="Top p" type="number" min="0" max="1" step="0.05" value=${form.topP} onInput=${set("topP")} />
      <div>
        <${Field} label="Guardrails (name:version, comma-separated)" value=${form.guardrails}
          onInput=${set("guardrails")} list="guardrail-names" />
        <datalist id="guardrail-names">${(guardrails ? guardrails.data : []).map((g) =>
          html`<option value=${`${g.name}:${g.version}`} />`)}</datalist>
      </div>
    </div>
    <details>
      <summary>Tools and structured output</summary>
      <${Area} label="Tools (JSON array: name, description, input_schema)" value=${form.tools}
        onInput=${set("tools")} rows="4" />
      <${Select} label="Tool choice" value=${current.toolChoice} onChange=${set("toolChoice")} options=${[
        { value: "auto", label: "auto" }, { value: "any", label: "any tool" }, { value: "none", label: "none" },
        ...toolNames.map((n) => ({ value: `tool:${n}`, label: `force ${n}` }))]} />
      <${Area} label="JSON schema of the answer (optional)" value=${form.schema} onInput=${set("schema")} rows="3" />
    </details>
    <p class="row"><button type="submit">Send</button>
      <button type="button" class="secondary" onClick=${showCode} aria-expanded=${code ? "true" : "false"}>
        View code</button></p>
    <${Problem} error=${error} />
  </form>
  ${shown && html`<${Code} code=${shown} onTab=${(tab) => setCode({ tab })} />`}
  <div class=${compare ? "cols" : ""}>
    <${Answer} label=${`Answer from ${chosen}`} result=${results[0]} testid="answer" />
    ${compare && html`<${Answer} label=${`Answer from ${chosenB}`} result=${results[1]} testid="answer-b" />`}
  </div>`;
}

function Code({ code, onTab }) {
  const tabs = [["anthropic", "anthropic"], ["openai", "openai"], ["boto3", "boto3 (Bedrock Converse)"]];
  return html`<section class="panel" aria-label="Code for this request">
    <h2>Code for this request</h2>
    <div class="tabs" role="tablist" aria-label="SDK">
      ${tabs.map(([id, label]) => html`<button type="button" role="tab" id=${`tab-${id}`}
        aria-selected=${code.tab === id ? "true" : "false"} aria-controls="code-panel"
        onClick=${() => onTab(id)}>${label}</button>`)}
    </div>
    <pre id="code-panel" role="tabpanel" aria-labelledby=${`tab-${code.tab}`} data-testid="code"
      tabindex="0">${code[code.tab]}</pre>
  </section>`;
}
