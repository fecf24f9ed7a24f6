import { FakeSink } from "./_fake_sink.ts";
import { bounceSinkContract } from "./_sink_contract.ts";

bounceSinkContract("FakeSink", () =>
  Promise.resolve({
    sink: new FakeSink(new Map([["1", { messageId: "<contract.1@example.test>" }]])),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  }));
