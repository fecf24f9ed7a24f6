/**
 * Just enough of the Chrome DevTools Protocol to drive headless Chromium from a test: launch it
 * on a free debugging port, open the page target, send commands, and shut it down.
 */

export interface Browser extends AsyncDisposable {
  /** Sends a CDP command to the page and returns its result. */
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Evaluates `expression` in the page and returns its (JSON) value. */
  evaluate<T>(expression: string): Promise<T>;
}

export const CHROMIUM = "/usr/bin/chromium";

export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

export async function launchChromium(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "ferry-chromium-" });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "--window-size=1280,900",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Chromium prints its DevTools address on stderr; the rest of stderr is drained (and dropped)
  // so the pipe never fills.
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let endpoint: string | undefined;
  for (let i = 0; i < 10_000 && !endpoint; i++) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
    endpoint = /DevTools listening on (ws:\/\/\S+)/.exec(buffered)?.[1];
  }
  const drained = (async () => {
    while (!(await lines.read()).done) { /* drop */ }
  })();
  if (!endpoint) {
    child.kill("SIGKILL");
    await child.status;
    await drained;
    throw new Error(`Cannot start Chromium as it printed no DevTools address: ${buffered}`);
  }
  const http = endpoint.replace(/^ws:\/\/([^/]+)\/.*$/, "http://$1");
  const targets: { type: string; webSocketDebuggerUrl: string }[] = await (await fetch(
    `${http}/json/list`,
  )).json();
  const page = targets.find((t) => t.type === "page")!;
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const closed = new Promise((resolve) => ws.onclose = resolve);
  let nextId = 0;
  const pending = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data as string);
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`CDP ${msg.error.message}`));
    else p.resolve(msg.result);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    send,
    async evaluate<T>(expression: string): Promise<T> {
      const r = await send("Runtime.evaluate", { expression, returnByValue: true });
      return (r.result as { value: T }).value;
    },
    async [Symbol.asyncDispose]() {
      ws.close();
      await closed;
      child.kill("SIGTERM");
      await child.status;
      await drained;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
