// The console's shell: sign-in, navigation (hash routes, so nothing secret or stateful is in a URL) and the pages.
import { render } from "./vendor/preact.mjs";
import { useEffect, useRef, useState } from "./vendor/hooks.mjs";
import { api, html, session, Problem } from "./lib.mjs";
import { Playground } from "./playground.mjs";
import { Models, Live } from "./models.mjs";
import { Keys } from "./keys.mjs";
import { Usage, Requests } from "./usage.mjs";
import { Guardrails } from "./guardrails.mjs";
import { Batches, Evaluations } from "./batches.mjs";

const PAGES = [
  ["playground", "Playground", Playground],
  ["models", "Models", Models],
  ["keys", "Keys and projects", Keys],
  ["usage", "Usage and cost", Usage],
  ["requests", "Requests", Requests],
  ["guardrails", "Guardrails", Guardrails],
  ["batches", "Batches", Batches],
  ["evaluations", "Evaluations", Evaluations],
  ["live", "Live", Live],
];

function route() {
  const name = location.hash.replace(/^#\/?/, "");
  return PAGES.find(([id]) => id === name) ? name : "playground";
}

function SignIn({ onSignedIn }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    setBusy(true); setError(null);
    try {
      const who = await api("/v1/whoami", { key: key.trim() });
      session.key = key.trim();
      onSignedIn(who);
    } catch (e) { setError(e); } finally { setBusy(false); }
  }
  return html`<main id="main" class="signin">
    <h1>Sign in to Basalt</h1>
    <p>Paste an API key. An admin key sees everything; a project key sees its own project. The key stays in this
      tab (session storage) and is sent only in a request header.</p>
    <form onSubmit=${submit}>
      <label for="signin-key">API key</label>
      <input id="signin-key" type="password" autocomplete="off" value=${key}
        onInput=${(e) => setKey(e.currentTarget.value)} required />
      <p><button type="submit" disabled=${busy}>Sign in</button></p>
    </form>
    <${Problem} error=${error} />
  </main>`;
}

function Shell({ who, onSignOut }) {
  const [page, setPage] = useState(route());
  const heading = useRef(null);
  useEffect(() => {
    const onHash = () => setPage(route());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => { document.title = `${PAGES.find(([id]) => id === page)[1]} · Basalt console`; }, [page]);
  const [, title, Page] = PAGES.find(([id]) => id === page);
  const name = !who.auth ? "local user (auth off)" : who.admin ? `admin key ${who.key.name}`
    : `project ${who.project ? who.project.name : "?"}, key ${who.key.name}`;
  return html`<div class="shell">
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); heading.current && heading.current.focus(); }}>
      Skip to content</a>
    <header class="side">
      <p class="brand">Basalt console</p>
      <nav aria-label="Console pages">
        ${PAGES.map(([id, label]) => html`<a href=${`#/${id}`} aria-current=${id === page ? "page" : undefined}>
          ${label}</a>`)}
      </nav>
      <div class="who" aria-label="Signed in as">
        <div>Signed in as <strong data-testid="who">${name}</strong></div>
        ${who.auth && html`<button class="secondary" onClick=${onSignOut}>Sign out</button>`}
      </div>
    </header>
    <main id="main">
      <h1 tabindex="-1" ref=${heading}>${title}</h1>
      <${Page} who=${who} key=${page} />
    </main>
  </div>`;
}

function App() {
  const [who, setWho] = useState(undefined);
  useEffect(() => {
    // Signed in already in this tab, or a server with auth off (the single local user), or the sign-in page.
    api("/v1/whoami").then(setWho, () => { session.key = ""; setWho(null); });
  }, []);
  if (who === undefined) return html`<main id="main"><h1>Basalt console</h1><p>Loading…</p></main>`;
  if (who === null) return html`<${SignIn} onSignedIn=${setWho} />`;
  return html`<${Shell} who=${who} onSignOut=${() => { session.key = ""; setWho(null); }} />`;
}

render(html`<${App} />`, document.getElementById("app"));
