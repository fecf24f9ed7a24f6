/** A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records what it gets. */

export interface Received {
  readonly headers: Headers;
  readonly body: string;
}

export interface Receiver extends AsyncDisposable {
  readonly url: string;
  readonly received: Received[];
  /** What the next requests get: a status, or `hang` (no answer until `release()`). */
  mode: number | "hang";
  /** Resolves when the `n`-th request (1-based) has arrived. */
  arrived(n: number): Promise<void>;
  /** Lets hanging requests answer (200). */
  release(): void;
}

export function startReceiver(): Receiver {
  const received: Received[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const stop = new AbortController();
  const receiver: Receiver = {
    url: "",
    received,
    mode: 200,
    arrived: (n) =>
      received.length >= n
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ n, resolve })),
    release: () => release(),
    async [Symbol.asyncDispose]() {
      release();
      stop.abort();
      await server.finished;
    },
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: stop.signal,
    onListen: () => {},
  }, async (req) => {
    const mode = receiver.mode;
    received.push({ headers: req.headers, body: await req.text() });
    for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve();
    if (mode === "hang") {
      await gate;
      return new Response("late");
    }
    return new Response(mode === 200 ? "ok" : "broken", { status: mode });
  });
  return Object.assign(receiver, { url: `http://127.0.0.1:${server.addr.port}/hook` });
}
