/**
 * The safety code on the page: a Verify button and the trust state on each
 * participant's tile, and the Verify dialog that shows the code, explains
 * what a match means, and records "Codes match" or "Codes differ". A
 * mismatch, or a failed automatic check, shows as a warning on the tile
 * (an alert) that the connection may be intercepted.
 *
 * @module
 */
import { useEffect, useRef } from "preact/hooks";
import { displayName } from "./names.ts";
import { findParticipant, type Room } from "./room_model.ts";
import {
  type AutoCheck,
  isSuspect,
  isVerified,
  type Trust,
  trustOf,
} from "./trust_model.ts";

/** What the automatic check says, in words ("" when it is off). */
export const AUTO_TEXT: Record<AutoCheck, string> = {
  off: "",
  pending: "Checking automatically with the secret in the room link…",
  passed:
    "Checked automatically: you both hold the secret of the room link, over this very connection.",
  failed:
    "The automatic check failed: the other side did not prove it holds the room link's secret over this connection.",
  missing:
    "Not checked automatically: they joined without the secret of the room link. Compare the code instead.",
};

/** The trust chip for a tile's status line ("verified" or a warning). */
export function TrustChip({ trust, peerId }: { trust: Trust; peerId: string }) {
  const state = trustOf(trust, peerId);
  if (isSuspect(state)) {
    return <span class="chip failed">may be intercepted</span>;
  }
  if (isVerified(state)) return <span class="chip connected">verified</span>;
  return null;
}

/** The Verify button and, when suspect, the warning, for one tile. */
export function VerifyControls(
  { trust, peerId, name }: { trust: Trust; peerId: string; name: string },
) {
  const state = trustOf(trust, peerId);
  return (
    <>
      {isSuspect(state) && (
        <p class="note danger-note" role="alert">
          Warning: the connection with {name}{" "}
          may be intercepted. Someone (such as the server) may be sitting in the
          middle and listening. Do not say anything private.
        </p>
      )}
      <button
        type="button"
        class="verify"
        aria-haspopup="dialog"
        aria-label={`Verify ${name}`}
        disabled={!state.code}
        onClick={() => trust.verifying.value = peerId}
      >
        Verify
      </button>
    </>
  );
}

/** The Verify dialog for `trust.verifying`. */
export function VerifyDialog({ trust, room }: { trust: Trust; room: Room }) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const peerId = trust.verifying.value;
  const isOpen = peerId !== "";
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (isOpen && !dialog.open) {
      opener.current = document.activeElement;
      dialog.showModal();
    } else if (!isOpen && dialog.open) {
      dialog.close();
    }
  }, [isOpen]);
  function onClose() {
    trust.verifying.value = "";
    const back = opener.current;
    if (back instanceof HTMLElement && back.isConnected) back.focus();
  }
  const participant = isOpen ? findParticipant(room, peerId) : undefined;
  const name = displayName(participant?.name.value ?? "", peerId);
  const state = trustOf(trust, peerId);
  const auto = AUTO_TEXT[state.auto];
  return (
    <dialog
      ref={ref}
      class="sheet verify-dialog"
      aria-labelledby="verify-title"
      onClose={onClose}
    >
      <div class="sheet-head">
        <h2 id="verify-title">Safety code with {name}</h2>
        <button type="button" onClick={() => trust.verifying.value = ""}>
          Close
        </button>
      </div>
      {isOpen && (
        <>
          <p class="safety-code" aria-label="Safety code">
            {state.code || "…"}
          </p>
          <p>
            Read this code to {name}{" "}
            and ask them to open Verify on your tile. Both of you see the same
            code only if your browsers are talking to each other directly: a
            match proves that nobody, not even the Parley server, sits in the
            middle of this connection. If the codes differ, someone may be
            intercepting it.
          </p>
          {auto && (
            <p class={state.auto === "failed" ? "note danger-note" : "note"}>
              {auto}
            </p>
          )}
          {state.verdict === "differ" && (
            <p class="note danger-note" role="alert">
              The codes differ: this connection may be intercepted. Leave the
              call and meet another way.
            </p>
          )}
          {state.verdict === "match" && !isSuspect(state) && (
            <p class="note" role="status">
              You confirmed that the codes match.
            </p>
          )}
          <div class="buttons">
            <button
              type="button"
              aria-pressed={state.verdict === "match"}
              onClick={() => trust.setVerdict(peerId, "match")}
            >
              Codes match
            </button>
            <button
              type="button"
              class="danger"
              aria-pressed={state.verdict === "differ"}
              onClick={() => trust.setVerdict(peerId, "differ")}
            >
              Codes differ
            </button>
          </div>
        </>
      )}
    </dialog>
  );
}
