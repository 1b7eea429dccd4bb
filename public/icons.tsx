/**
 * The few icons of the controls bar, as inline SVG paths (24×24, drawn with
 * `currentColor`), hidden from assistive technology: every button says
 * what it does in words.
 *
 * @module
 */

const PATHS = {
  mic:
    "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z",
  micOff:
    "M19 11h-2a5 5 0 0 1-.6 2.3l1.5 1.5A7 7 0 0 0 19 11zM15 11V5a3 3 0 0 0-5.9-.7L15 10.2zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.5-1.4l3.2 3.2 1.3-1.3z",
  link:
    "M10.6 13.4a1 1 0 0 1 0-1.4l3-3a1 1 0 1 1 1.4 1.4l-3 3a1 1 0 0 1-1.4 0zM8.5 18.4a3.5 3.5 0 0 1-5-5l2.8-2.8 1.4 1.4-2.8 2.8a1.5 1.5 0 0 0 2.2 2.2l2.8-2.8 1.4 1.4zm8.6-4.9-1.4-1.4 2.8-2.8a1.5 1.5 0 0 0-2.2-2.2l-2.8 2.8-1.4-1.4 2.8-2.8a3.5 3.5 0 0 1 5 5z",
  settings:
    "M4 7h10v2H4zm14 0h2v2h-2zm-3-2h2v6h-2zM4 15h2v2H4zm6 0h10v2H10zm-3-2h2v6H7z",
  hand:
    "M7 11V5.5a1.5 1.5 0 0 1 3 0V11h1V3.5a1.5 1.5 0 0 1 3 0V11h1V5.5a1.5 1.5 0 0 1 3 0V15a6 6 0 0 1-6 6h-.5a6 6 0 0 1-4.8-2.4L3.6 14a1.5 1.5 0 0 1 2.3-1.9L7 13.5z",
  lock:
    "M12 2a5 5 0 0 0-5 5v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5zm-3 5a3 3 0 0 1 6 0v3H9z",
  unlock:
    "M12 2a5 5 0 0 0-5 5h2a3 3 0 0 1 6 0v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5z",
  leave:
    "M12 9c-2.6 0-5 .4-7.3 1.3A2 2 0 0 0 3.5 12v2.6a1 1 0 0 0 1.3 1l3-1a1 1 0 0 0 .7-1V12a12 12 0 0 1 7 0v1.6a1 1 0 0 0 .7 1l3 1a1 1 0 0 0 1.3-1V12a2 2 0 0 0-1.2-1.7C17 9.4 14.6 9 12 9z",
} as const;

/** An icon by name. */
export function Icon({ name }: { name: keyof typeof PATHS }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={PATHS[name]} />
    </svg>
  );
}
