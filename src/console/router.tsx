/** A small history router for the console's few pages, all under /admin/. */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/admin';

export type Route = { page: 'transactions'; search: string } | { page: 'transaction'; gid: string } | { page: 'live' } | { page: 'topics' };

/** The page a location shows. */
function routeOf(pathname: string, search: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length).replace(/^\/+/, '') : '';
  if (rest.startsWith('tx/')) return { page: 'transaction', gid: decodeURIComponent(rest.slice(3)) };
  if (rest === 'live') return { page: 'live' };
  if (rest === 'topics') return { page: 'topics' };
  return { page: 'transactions', search };
}

export const txPath = (gid: string): string => `${BASE}/tx/${encodeURIComponent(gid)}`;

const listeners = new Set<() => void>();

/** Goes to `href` (a path under /admin) without reloading. */
export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  listeners.forEach((l) => l());
}

/** The current route; re-renders on navigation and on the browser's back and forward. */
export function useRoute(): Route {
  const read = (): Route => routeOf(location.pathname, location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = (): void => setRoute(read());
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** A link that navigates in place (a modified click still opens a new tab). */
export function Link(props: { href: string; class?: string; title?: string; children: ComponentChildren }): JSX.Element {
  const onClick = (e: MouseEvent): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return (
    <a href={props.href} class={props.class} title={props.title} onClick={onClick}>
      {props.children}
    </a>
  );
}
