/**
 * End-to-end scenarios of the room's host controls (issue 14 §1), through
 * the page as people use it: the creator hosts, locks the room, admits a
 * knocker, removes a member (who must knock again, and is denied), and
 * when the host leaves the right passes on. With `redis`, two server
 * instances share one Redis and the knocker's socket is on the other one.
 *
 * @module
 */
import { join } from "node:path";
import type { TestPage } from "./page.ts";
import type { Scenario } from "./scenarios.ts";
import {
  axeClean,
  launch,
  type Person,
  startRedisIn,
} from "./peer_scenarios.ts";
import {
  assert,
  has,
  joinCall,
  receivesAudioFromAll,
  tileText,
  waitAlert,
  waitFor,
  waitPhase,
  waitTile,
} from "./steps.ts";
import { eventually } from "../support/wait.ts";
import { spawnServer } from "../support/server.ts";

/** The line under Participants that says who hosts and whether locked. */
async function roomLine(page: TestPage): Promise<string> {
  return (await page.texts("status", "Room")).join(" ");
}

function waitRoomLine(page: TestPage, text: string): Promise<true> {
  let last = "";
  return eventually(
    async () => {
      last = await roomLine(page);
      return last.includes(text) || undefined;
    },
    `${page.label} to say "${text}" about the room (last: "${last}")`,
  );
}

/** Whether the Lock room button shows pressed. */
function lockPressed(page: TestPage): Promise<string> {
  return page.evaluateOn(
    "button",
    "Lock room",
    (el) => el.getAttribute("aria-pressed") ?? "",
  );
}

/** Opens the room link as `name` and clicks Join, which knocks. */
async function knock(person: Person, origin: string, room: string) {
  await person.page.goto(`${origin}/r/${room}`);
  await person.page.fill("Your name (optional)", person.name);
  await waitsForHost(person);
}

/** Clicks Join and waits for the page to say it waits for the host. */
async function waitsForHost(person: Person): Promise<void> {
  await person.page.click("button", "Join");
  await eventually(
    async () =>
      (await person.page.texts("status")).some((t) =>
        t.includes("Waiting for the host to let you in")
      ) || undefined,
    `${person.name}'s page to say it waits for the host`,
  );
}

/**
 * The host scenario. `redis`: two instances on one Redis, the knocker on the
 * second. `firefox`: the knocker (who later hosts) runs Firefox. Otherwise
 * axe-core checks the knock on the host's page and the waiting page.
 */
function hostScenario(
  options: { redis?: boolean; firefox?: boolean } = {},
): Scenario {
  return {
    async run(context) {
      await using stack = new AsyncDisposableStack();
      let hostOrigin = context.server.origin;
      let otherOrigin = hostOrigin;
      if (options.redis) {
        const url = await startRedisIn(stack, join(context.tmp, "redis"));
        const env = { ...context.env, REDIS_URL: url };
        hostOrigin = stack.use(await spawnServer({ env })).origin;
        otherOrigin = stack.use(await spawnServer({ env })).origin;
      }
      const axe = !options.redis && !options.firefox;
      const ada = await launch(context, stack, "Ada", 440, { axe });
      const grace = await launch(context, stack, "Grace", 1000);
      const lin = await launch(context, stack, "Lin", 660, {
        axe,
        firefox: options.firefox,
      });

      const { room } = await joinCall(ada.page, hostOrigin, { name: "Ada" });
      await waitTile(ada.page, "Ada (you)", "host");
      await waitRoomLine(ada.page, "You host this room.");
      await joinCall(grace.page, hostOrigin, { room, name: "Grace" });
      await waitTile(grace.page, "Ada", "host");
      await waitRoomLine(grace.page, "Ada hosts this room.");
      assert(
        !(await has(grace.page, "button", "Lock room")),
        "Grace, who does not host, has a Lock room button",
      );
      assert(
        !(await has(ada.page, "button", "Remove Ada (you) from the room")) &&
          !(await has(grace.page, "button", "Remove Ada from the room")),
        "a Remove button where it must not be",
      );
      await waitFor(ada.page, "button", "Remove Grace from the room");
      context.pass(
        "the creator hosts: her tile says so on both pages, and only she has Lock room and Remove",
      );

      await ada.page.click("button", "Lock room");
      await eventually(
        async () => (await lockPressed(ada.page)) === "true" || undefined,
        "Lock room to show pressed",
      );
      await waitRoomLine(grace.page, "Locked");
      context.pass("Ada locks the room; Grace's page says it is locked");

      await knock(lin, otherOrigin, room);
      await waitFor(ada.page, "button", "Admit Lin");
      await Deno.mkdir(context.artifacts, { recursive: true });
      await ada.page.screenshot(join(context.artifacts, "host-knock.png"));
      await lin.page.screenshot(join(context.artifacts, "knocking-lin.png"));
      assert(
        (await ada.page.texts("region", "Waiting to join")).join(" ")
          .includes("Lin wants to join"),
        "Ada's page does not say that Lin wants to join",
      );
      assert(
        !(await has(grace.page, "button", "Admit Lin")),
        "Grace, who does not host, can admit Lin",
      );
      if (axe) {
        await axeClean(context, ada.page, "host's page with a knock");
        await axeClean(context, lin.page, "waiting page");
      }
      context.pass(
        `Lin${options.redis ? ", on the other instance," : ""}${
          options.firefox ? ", in Firefox," : ""
        } knocks: her page says she waits for the host; Ada's shows "Lin wants to join" with Admit and Deny${
          axe ? "; both pages pass axe-core in light and dark" : ""
        }`,
      );

      await ada.page.click("button", "Admit Lin");
      await waitPhase(lin.page, "call");
      await waitTile(lin.page, "Ada", "host");
      await receivesAudioFromAll(lin.page, 2);
      await receivesAudioFromAll(ada.page, 2);
      assert(
        !(await has(ada.page, "button", "Admit Lin")),
        "the knock stays on Ada's page after she admitted it",
      );
      context.pass("Ada admits Lin: Lin is in the call and hears both");

      await ada.page.click("button", "Remove Grace from the room");
      await waitAlert(grace.page, "The host removed you from this room.");
      await waitPhase(grace.page, "start");
      for (const p of [ada, lin]) {
        await eventually(
          async () => (await tileText(p.page, "Grace")) === "" || undefined,
          `${p.name}'s page to drop Grace's tile`,
        );
      }
      await receivesAudioFromAll(lin.page, 1);
      context.pass(
        "Ada removes Grace: Grace's page says so and returns to the start; Ada's and Lin's pages drop her, and Ada and Lin still hear each other",
      );

      await waitsForHost(grace);
      await waitFor(ada.page, "button", "Deny Grace");
      await ada.page.click("button", "Deny Grace");
      await waitAlert(grace.page, "The host did not let you in.");
      await waitPhase(grace.page, "start");
      context.pass(
        "Grace must knock to come back into the locked room; Ada denies her and her page says so",
      );

      await ada.page.click("button", "Leave");
      await waitRoomLine(lin.page, "You host this room.");
      await waitFor(lin.page, "button", "Lock room");
      assert(
        await lockPressed(lin.page) === "true",
        "the room is no longer locked on Lin's page",
      );
      await lin.page.click("button", "Lock room");
      await eventually(
        async () => (await lockPressed(lin.page)) === "false" || undefined,
        "Lin's Lock room to show unpressed",
      );
      await lin.page.screenshot(join(context.artifacts, "host-lin.png"));
      context.pass(
        "Ada leaves: Lin, present longest, hosts the still locked room, and unlocks it",
      );
    },
  };
}

/** The scenarios of this file, by name. */
export const HOST_SCENARIOS: Record<string, Scenario> = {
  "host-lock": hostScenario(),
  "host-lock-redis": hostScenario({ redis: true }),
  "firefox-host-lock": hostScenario({ firefox: true }),
};
