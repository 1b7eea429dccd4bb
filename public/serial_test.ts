import assert from "node:assert/strict";
import { afterPrevious } from "./serial.ts";

Deno.test("afterPrevious() runs steps in order and goes on after one fails", async () => {
  const ran: number[] = [];
  const errors: unknown[] = [];
  let chain: Promise<void> | undefined;
  for (let i = 0; i < 4; i++) {
    chain = afterPrevious(chain, async () => {
      await Promise.resolve();
      ran.push(i);
      if (i === 1) throw new Error("step 1 failed");
    }, (error) => errors.push(error));
  }
  await chain;
  assert.deepEqual(ran, [0, 1, 2, 3]);
  assert.deepEqual(errors.map((e) => (e as Error).message), ["step 1 failed"]);
});

Deno.test("afterPrevious() waits for the previous step before starting the next", async () => {
  const order: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  const first = afterPrevious(undefined, async () => {
    await promise;
    order.push("first");
  }, () => {});
  const second = afterPrevious(first, () => {
    order.push("second");
  }, () => {});
  await Promise.resolve();
  assert.deepEqual(order, []);
  resolve();
  await second;
  assert.deepEqual(order, ["first", "second"]);
});
