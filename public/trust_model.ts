/**
 * What we know about each connection's safety code (`safety_code.ts`): the
 * code, what the user said after comparing it, and the automatic check's
 * outcome when the room link carries a secret.
 *
 * @module
 */
import { action, computed, createModel, signal } from "@preact/signals";

/** What the user said after reading the codes to each other. */
export type Verdict = "unchecked" | "match" | "differ";

/**
 * The automatic check: `off` (we hold no secret), `pending` (waiting for
 * the peer's proof), `passed`, `failed` (wrong or no proof: the connection
 * may be intercepted), `missing` (the peer says it has no secret).
 */
export type AutoCheck = "off" | "pending" | "passed" | "failed" | "missing";

/** The safety state of one connection. */
export interface PeerTrust {
  /** The code, "" until the connection's DTLS is up. */
  readonly code: string;
  readonly verdict: Verdict;
  readonly auto: AutoCheck;
}

const EMPTY: PeerTrust = { code: "", verdict: "unchecked", auto: "off" };

/** Whether a connection should be shown as possibly intercepted. */
export function isSuspect(trust: PeerTrust): boolean {
  return trust.verdict === "differ" || trust.auto === "failed";
}

/** Whether a connection is confirmed (by the user or the secret). */
export function isVerified(trust: PeerTrust): boolean {
  return !isSuspect(trust) &&
    (trust.verdict === "match" || trust.auto === "passed");
}

/** The trust model: one {@linkcode PeerTrust} per peer ID. */
export const TrustModel = createModel(() => {
  const peers = signal<ReadonlyMap<string, PeerTrust>>(new Map());
  /** The peer whose Verify dialog is open ("" for none). */
  const verifying = signal("");
  const update = (peerId: string, change: Partial<PeerTrust>) => {
    const next = new Map(peers.value);
    next.set(peerId, { ...(next.get(peerId) ?? EMPTY), ...change });
    peers.value = next;
  };
  return {
    peers,
    verifying,
    /** Whether any connection is suspect (for a page-wide warning). */
    anySuspect: computed(() => [...peers.value.values()].some(isSuspect)),
    /**
     * Records a connection's code. A new code (the peer reloaded, so it has
     * a new certificate) makes the user's old verdict void.
     */
    setCode: action((peerId: string, code: string) => {
      const old = peers.value.get(peerId);
      if (old?.code === code) return;
      update(peerId, { code, verdict: "unchecked", auto: "off" });
    }),
    setVerdict: action((peerId: string, verdict: Verdict) => {
      update(peerId, { verdict });
    }),
    setAuto: action((peerId: string, auto: AutoCheck) => {
      update(peerId, { auto });
    }),
    forget: action((peerId: string) => {
      const next = new Map(peers.value);
      next.delete(peerId);
      peers.value = next;
      if (verifying.value === peerId) verifying.value = "";
    }),
    clear: action(() => {
      peers.value = new Map();
      verifying.value = "";
    }),
  };
});

/** An instance of {@linkcode TrustModel}. */
export type Trust = InstanceType<typeof TrustModel>;

/**
 * The state of `peerId`'s connection; reads the signal, so a component that
 * calls it re-renders on change (model methods run untracked).
 */
export function trustOf(trust: Trust, peerId: string): PeerTrust {
  return trust.peers.value.get(peerId) ?? EMPTY;
}
