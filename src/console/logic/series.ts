/** The live page's history: the last samples of each counter, and the sparkline drawn from them. */

/** Samples kept per counter (at one per second, two minutes). */
const HISTORY = 120;

/** `values` with `v` appended, keeping the last `max`. */
export function push(values: readonly number[], v: number, max = HISTORY): number[] {
  const out = values.length >= max ? values.slice(values.length - max + 1) : values.slice();
  out.push(v);
  return out;
}

/**
 * An SVG path (`M x y L …`) of `values` in a `width` × `height` box, the newest at the right
 * edge, scaled so the largest value touches the top; a flat line at the bottom when all are 0.
 */
export function sparkPath(values: readonly number[], width: number, height: number, slots = HISTORY): string {
  if (values.length === 0) return '';
  const max = Math.max(...values, 0);
  const step = width / Math.max(1, slots - 1);
  const x0 = width - step * (values.length - 1);
  const y = (v: number): number => (max <= 0 ? height : height - (v / max) * (height - 1));
  return values.map((v, i) => `${i === 0 ? 'M' : 'L'}${(x0 + i * step).toFixed(1)} ${y(v).toFixed(1)}`).join(' ');
}

/** The area under `sparkPath`'s line, closed along the bottom edge. */
export function sparkArea(values: readonly number[], width: number, height: number, slots = HISTORY): string {
  const line = sparkPath(values, width, height, slots);
  if (line === '') return '';
  const step = width / Math.max(1, slots - 1);
  const x0 = width - step * (values.length - 1);
  return `${line} L${width.toFixed(1)} ${height} L${x0.toFixed(1)} ${height} Z`;
}
