// Smiley faces drawn as inline SVG (no emoji font needed); value 1 is the saddest.
// The mouth's shape and a text label carry the meaning, the colour only repeats it.
// Shared by the staff app and the kiosk: the labels are the catalogue's face.* keys.

import { t } from './i18n.js';

/** Where a value sits on its scale, 0 (saddest) to 1 (happiest). */
export function position(value, min, max) {
  return max === min ? 1 : (value - min) / (max - min);
}

export function faceLabel(value, min, max) {
  return t(`face.${max - min + 1}.${value - min + 1}`);
}

export function faceSvg(value, min, max) {
  const p = position(value, min, max);
  const bend = (p - 0.5) * 20;
  const hue = Math.round(p * 120);
  return `<svg viewBox="0 0 48 48" aria-hidden="true" focusable="false">`
    + `<circle cx="24" cy="24" r="21" fill="hsl(${hue} 70% 78%)" stroke="#1f2328" stroke-width="2"/>`
    + `<circle cx="17" cy="19" r="2.6" fill="#1f2328"/><circle cx="31" cy="19" r="2.6" fill="#1f2328"/>`
    + `<path d="M14 ${32 - bend / 4} Q24 ${32 + bend} 34 ${32 - bend / 4}" fill="none" `
    + `stroke="#1f2328" stroke-width="2.6" stroke-linecap="round"/></svg>`;
}
