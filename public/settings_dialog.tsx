/**
 * The audio settings in a native modal `<dialog>`, opened from the call's
 * controls or the start page. `showModal()` makes the rest of the page
 * inert and Escape closes it; Tab wraps around inside it; on close, focus
 * goes back to the control that opened it.
 *
 * @module
 */
import type { Signal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type { Audio } from "./audio_model.ts";
import { SettingsPanel } from "./settings_panel.tsx";

/** The settings dialog; `open` shows and hides it. */
export function SettingsDialog(
  { audio, open }: { audio: Audio; open: Signal<boolean> },
) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const isOpen = open.value;
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
  function onKeyDown(event: KeyboardEvent) {
    // A modal dialog makes the page inert, but Tab past its last control
    // leaves for the browser's own UI: wrap around instead.
    if (event.key !== "Tab" || !ref.current) return;
    const controls = [
      ...ref.current.querySelectorAll<HTMLElement>(
        "button, input, select, textarea, [tabindex]",
      ),
    ].filter((el) => !el.matches(":disabled") && el.getClientRects().length);
    const first = controls[0];
    const last = controls.at(-1);
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last?.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first?.focus();
    }
  }
  function onClose() {
    open.value = false;
    // Browsers differ on where focus goes after close(): say it.
    const back = opener.current;
    if (back instanceof HTMLElement && back.isConnected) back.focus();
  }
  return (
    <dialog
      ref={ref}
      class="sheet"
      aria-labelledby="settings-title"
      onClose={onClose}
      onKeyDown={onKeyDown}
    >
      <div class="sheet-head">
        <h2 id="settings-title">Audio settings</h2>
        <button type="button" onClick={() => open.value = false}>
          Close
        </button>
      </div>
      {isOpen && <SettingsPanel audio={audio} />}
    </dialog>
  );
}
