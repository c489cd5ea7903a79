/**
 * Paging over the listing's positions. The API pages forward only (each page names where the
 * next starts), so going back means remembering where every page so far started: a stack.
 */

export interface Paging {
  /** The start position of every page reached so far; the first page starts at ''. */
  starts: readonly string[];
  /** The page shown (index into `starts`). */
  index: number;
  /** Where the page after the shown one starts: '' when the shown page is the last. */
  next: string;
}

export const FIRST_PAGE: Paging = Object.freeze({ starts: Object.freeze(['']), index: 0, next: '' });

/** The position the shown page starts at. */
export const position = (p: Paging): string => p.starts[p.index] ?? '';

/** The state once the shown page has loaded and said where the next starts. */
export function loaded(p: Paging, nextPosition: string): Paging {
  return { ...p, next: nextPosition };
}

export const canNext = (p: Paging): boolean => p.next !== '';
export const canPrev = (p: Paging): boolean => p.index > 0;

/** Moves to the next page (nothing changes on the last page). */
export function forward(p: Paging): Paging {
  if (!canNext(p)) return p;
  const starts = [...p.starts.slice(0, p.index + 1), p.next];
  return { starts, index: p.index + 1, next: '' };
}

/** Moves to the previous page; its `next` is the page just left, so forward comes back to it. */
export function back(p: Paging): Paging {
  if (!canPrev(p)) return p;
  return { starts: p.starts, index: p.index - 1, next: p.starts[p.index] ?? '' };
}

/** Page numbers as people count them. */
export const pageNumber = (p: Paging): number => p.index + 1;
