/**
 * The public listener's app (`FERRY_PUBLIC_LISTEN`): the one-click unsubscribe route and nothing
 * else, kept apart from the admin API so that exposing it exposes nothing more.
 *
 * - `POST <base>/u/<token>` with the body `List-Unsubscribe=One-Click` (RFC 8058 §3.1, as
 *   `application/x-www-form-urlencoded` or `multipart/form-data`) unsubscribes: 200 once, 410
 *   when the token was used already or has expired, 403 when it was not made with Ferry's key,
 *   400 when it is not a token or the body is not the one-click one.
 * - `GET <base>/u/<token>` only shows a page with a button that makes that POST: link
 *   scanners and previews fetch URLs, so a GET must never unsubscribe (RFC 8058 §3.2).
 * - Everything else is 404; bodies over `maxBodySize` are 413; a database failure is 503.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { applyUnsubscribe, type UnsubscribeDeps } from "./apply.ts";

export interface PublicAppOptions extends UnsubscribeDeps {
  /** The public URL (its path is where the route lives). */
  readonly publicUrl: string;
  readonly maxBodySize: number;
}

const STATUS = { malformed: 400, forged: 403, expired: 410, used: 410 } as const;
const MESSAGE = {
  malformed: "This unsubscribe link is not valid.",
  forged: "This unsubscribe link is not valid.",
  expired: "This unsubscribe link has expired.",
  used: "This unsubscribe link has already been used.",
} as const;

export function publicApp(o: PublicAppOptions): Hono {
  const base = new URL(o.publicUrl).pathname.replace(/\/+$/, "");
  const app = new Hono();
  const route = `${base}/u/:token`;

  app.post(
    route,
    bodyLimit({
      maxSize: o.maxBodySize,
      onError: (c) => c.text("Request body too large.\n", 413),
    }),
    async (c) => {
      const token = c.req.param("token") ?? "";
      const form = await readForm(c.req.raw);
      // RFC 8058 §3.1: the one-click POST carries exactly this key and value.
      if (form?.get("List-Unsubscribe") !== "One-Click") {
        o.logger.log({
          event: "unsubscribe.refused",
          problem: "bad_request",
          reason: "the body is not List-Unsubscribe=One-Click",
          via: "https",
        });
        return c.text("Expected the body List-Unsubscribe=One-Click (RFC 8058).\n", 400);
      }
      const outcome = await applyUnsubscribe(o, token, "https");
      if (outcome.kind === "refused") {
        return c.text(`${MESSAGE[outcome.problem]}\n`, STATUS[outcome.problem]);
      }
      return c.html(page("Unsubscribed", "You will no longer receive these emails."));
    },
  );

  app.get(route, (c) => {
    const action = `${base}/u/${encodeURIComponent(c.req.param("token") ?? "")}`;
    return c.html(page(
      "Unsubscribe",
      "Do you want to stop receiving these emails?",
      `<form method="post" action="${escapeHtml(action)}">` +
        `<input type="hidden" name="List-Unsubscribe" value="One-Click">` +
        `<button type="submit">Unsubscribe</button></form>`,
    ));
  });

  app.all("*", (c) => c.text("Not found.\n", 404));
  app.notFound((c) => c.text("Not found.\n", 404));
  app.onError((err, c) => {
    o.logger.log({ event: "unsubscribe.failed", error: String(err) });
    return c.text("Temporarily unavailable, please try again later.\n", 503);
  });
  return app;
}

/** The form fields of a url-encoded or multipart body; undefined for any other body. */
async function readForm(req: Request): Promise<URLSearchParams | FormData | undefined> {
  const type = (req.headers.get("content-type") ?? "").toLowerCase();
  try {
    if (type.startsWith("application/x-www-form-urlencoded")) {
      return new URLSearchParams(await req.text());
    }
    if (type.startsWith("multipart/form-data")) return await req.formData();
  } catch {
    return undefined;
  }
  return undefined;
}

function page(title: string, text: string, extra = ""): string {
  return `<!doctype html><html><head><meta charset="utf-8">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>` +
    `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>${extra}</body></html>\n`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
