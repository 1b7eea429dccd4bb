/**
 * Steps that must run one after another (one peer's incoming signals), where
 * one step failing must not stop the ones after it.
 *
 * @module
 */

/**
 * Runs `step` once `previous` has settled and returns the new end of the
 * chain. A step that throws or rejects goes to `onError`, and the chain goes
 * on: the returned promise never rejects.
 */
export function afterPrevious(
  previous: Promise<void> | undefined,
  step: () => Promise<void> | void,
  onError: (error: unknown) => void,
): Promise<void> {
  return (previous ?? Promise.resolve()).then(step).catch(onError);
}
