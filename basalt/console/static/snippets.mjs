// "View code": the playground's request as a Python call with the anthropic, openai and boto3 SDKs. The key is read
// from the environment in each snippet; the console never writes it into code.
import { anthropicBody, openaiBody } from "./playground.mjs";

function py(value, indent = 0) {
  const pad = " ".repeat(indent + 4), end = " ".repeat(indent);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => pad + py(v, indent + 4)).join(",\n")},\n${end}]`;
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${py(v, indent + 4)}`).join(",\n")},\n${end}}`;
}

function kwargs(body, skip = []) {
  return Object.entries(body).filter(([k, v]) => v !== undefined && !skip.includes(k))
    .map(([k, v]) => `    ${k}=${py(v, 4)},`).join("\n");
}

function extraHeaders(spec) {
  if (!spec.guardrails) return "";
  return `    extra_headers={"basalt-guardrail": ${JSON.stringify(spec.guardrails)}, "basalt-guardrail-trace": "enabled"},\n`;
}

function anthropicCode(spec, base) {
  const body = anthropicBody({ ...spec, stream: false });
  const call = spec.stream ? "with client.messages.stream(" : "message = client.messages.create(";
  const tail = spec.stream ? ") as stream:\n    for text in stream.text_stream:\n        print(text, end=\"\", flush=True)\n"
    : ")\nprint(message.content)\n";
  return `import os\n\nimport anthropic\n\nclient = anthropic.Anthropic(base_url=${JSON.stringify(base)}, ` +
    `api_key=os.environ["BASALT_API_KEY"])\n${call}\n${kwargs(body)}\n${extraHeaders(spec)}${tail}`;
}

function openaiCode(spec, base) {
  const body = openaiBody(spec);
  const tail = spec.stream ? ")\nfor chunk in completion:\n    if chunk.choices and chunk.choices[0].delta.content:\n" +
    "        print(chunk.choices[0].delta.content, end=\"\", flush=True)\n" : ")\nprint(completion.choices[0].message)\n";
  return `import os\n\nimport openai\n\nclient = openai.OpenAI(base_url=${JSON.stringify(base + "/v1")}, ` +
    `api_key=os.environ["BASALT_API_KEY"])\ncompletion = client.chat.completions.create(\n${kwargs(body)}\n` +
    `${extraHeaders(spec)}${tail}`;
}

function boto3Code(spec, base) {
  const request = { modelId: spec.model, messages: [{ role: "user", content: [{ text: spec.prompt }] }] };
  if (spec.system) request.system = [{ text: spec.system }];
  const inference = { maxTokens: spec.max_tokens, temperature: spec.temperature, topP: spec.top_p };
  request.inferenceConfig = Object.fromEntries(Object.entries(inference).filter(([, v]) => v !== undefined));
  if (spec.tools.length) {
    const choice = spec.tool_choice.startsWith("tool:") ? { tool: { name: spec.tool_choice.slice(5) } }
      : spec.tool_choice === "any" ? { any: {} } : { auto: {} };
    request.toolConfig = { tools: spec.tools.map((t) => ({ toolSpec: { name: t.name, description: t.description,
      inputSchema: { json: t.input_schema || { type: "object" } } } })), toolChoice: choice };
  }
  if (spec.schema) request.outputConfig = { textFormat: { type: "json_schema", structure: { jsonSchema: {
    schema: JSON.stringify(spec.schema), name: "output" } } } };
  const guard = spec.guardrails.split(",")[0].trim();
  if (guard) {
    const [id, version] = guard.split(":");
    request.guardrailConfig = { guardrailIdentifier: id, guardrailVersion: version || "DRAFT", trace: "enabled" };
  }
  const method = spec.stream ? "converse_stream" : "converse";
  const tail = spec.stream ? ")\nfor event in response[\"stream\"]:\n    if \"contentBlockDelta\" in event:\n" +
    "        print(event[\"contentBlockDelta\"][\"delta\"].get(\"text\", \"\"), end=\"\", flush=True)\n"
    : ")\nprint(response[\"output\"][\"message\"])\n";
  return `import os\n\nimport boto3\n\n# A Basalt key as a Bedrock API key (needs https in front of Basalt), or an access key pair:\n` +
    `# os.environ["AWS_BEARER_TOKEN_BEDROCK"] = os.environ["BASALT_API_KEY"]\n` +
    `client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=${JSON.stringify(base)})\n` +
    `response = client.${method}(\n${kwargs(request)}\n${tail}`;
}

export function snippets(spec, base = location.origin) {
  return { anthropic: anthropicCode(spec, base), openai: openaiCode(spec, base), boto3: boto3Code(spec, base) };
}
