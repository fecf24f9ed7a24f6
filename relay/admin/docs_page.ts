/**
 * The browsable API reference at `/docs`: the OpenAPI document rendered to plain HTML on the
 * server (no script, no CDN: the machines running Ferry often have no internet).
 *
 * @module
 */

type Json = Record<string, unknown>;

export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function typeOf(schema: Json | undefined): string {
  if (!schema) return "";
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `${typeOf(schema.items as Json)}[]`;
  if (Array.isArray(schema.anyOf)) return schema.anyOf.map((s) => typeOf(s as Json)).join(" | ");
  return String(schema.type ?? schema.format ?? "any");
}

function schemaBlock(title: string, schema: unknown): string {
  return `<details><summary>${escapeHtml(title)}</summary><pre>${
    escapeHtml(JSON.stringify(schema, null, 2))
  }</pre></details>`;
}

function operationHtml(path: string, method: string, op: Json): string {
  const params = (op.parameters ?? []) as Json[];
  const rows = params.map((p) =>
    `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${escapeHtml(p.in)}</td><td>${
      p.required ? "yes" : ""
    }</td><td><code>${escapeHtml(typeOf(p.schema as Json))}</code></td><td>${
      escapeHtml(p.description ?? "")
    }</td></tr>`
  ).join("");
  const body = (op.requestBody as Json | undefined)?.content as Json | undefined;
  const responses = Object.entries((op.responses ?? {}) as Record<string, Json>).map(([s, r]) => {
    const content = r.content as Record<string, Json> | undefined;
    const schema = content ? Object.values(content)[0]?.schema : undefined;
    return `<li><b>${escapeHtml(s)}</b> ${escapeHtml(r.description)}${
      schema ? schemaBlock("schema", schema) : ""
    }</li>`;
  }).join("");
  return `<section class="op" id="${escapeHtml(op.operationId)}">
  <h3><span class="m ${escapeHtml(method)}">${escapeHtml(method.toUpperCase())}</span>
  <code>${escapeHtml(path)}</code> — ${escapeHtml(op.summary)}</h3>
  <p>Scope: <code>${escapeHtml(String(op["x-required-scope"] ?? ""))}</code></p>
  ${op.description ? `<p>${escapeHtml(op.description)}</p>` : ""}
  ${
    rows
      ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>type</th><th></th></tr>${rows}</table>`
      : ""
  }
  ${
    body
      ? schemaBlock("request body (application/json)", (body["application/json"] as Json).schema)
      : ""
  }
  <ul class="responses">${responses}</ul>
</section>`;
}

/** The whole page for `doc` (an OpenAPI 3.1 document). */
export function docsPage(doc: Json): string {
  const info = doc.info as Json;
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = String((op.tags as string[] | undefined)?.[0] ?? "other");
      byTag.set(tag, [...(byTag.get(tag) ?? []), operationHtml(path, method, op)]);
    }
  }
  const toc = [...byTag.keys()].map((t) => `<a href="#tag-${escapeHtml(t)}">${escapeHtml(t)}</a>`)
    .join(" · ");
  const sections = [...byTag].map(([tag, ops]) =>
    `<h2 id="tag-${escapeHtml(tag)}">${escapeHtml(tag)}</h2>${ops.join("\n")}`
  ).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 2rem;color:#1d2430}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d6dbe3;padding-top:1rem;text-transform:capitalize}
.op{border:1px solid #e1e5eb;border-radius:6px;padding:.2rem 1rem;margin:1rem 0;background:#fbfcfd}
.m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-size:.8rem;padding:.1rem .3rem;margin-right:.4rem}
.get{background:#2f7ed8}.post{background:#2e9d57}.delete{background:#c9483d}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #e1e5eb;padding:.2rem .5rem;text-align:left;font-size:.9rem}
pre{background:#f1f3f6;padding:.6rem;overflow:auto;font-size:.8rem}code{font-size:.9em}
</style></head><body>
<h1>${escapeHtml(info.title)} <small>${escapeHtml(info.version)}</small></h1>
<p>${escapeHtml(info.description)}</p>
<p>Machine-readable: <code>GET /api/v1/openapi.json</code> (with the token). ${toc}</p>
${sections}
</body></html>`;
}
