/** The console's small shared pieces: status badges, the confirmation dialog, sparklines, notices. */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { sparkArea, sparkPath } from '../logic/series.js';

export function StatusBadge(props: { status: string }): JSX.Element {
  return <span class={`badge status-${props.status}`}>{props.status}</span>;
}

export function TypeTag(props: { type: string }): JSX.Element {
  return <span class="tag">{props.type}</span>;
}

/** A red notice for an error, with an optional retry. */
export function ErrorNotice(props: { message: string; onRetry?: () => void }): JSX.Element {
  return (
    <div class="notice notice-error" role="alert">
      <span>{props.message}</span>
      {props.onRetry !== undefined && (
        <button type="button" class="btn btn-small" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export interface ConfirmProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

/** A modal confirmation: Escape or Cancel closes it, the confirm button has the focus. */
export function Confirm(props: ConfirmProps): JSX.Element {
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    confirm.current?.focus();
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') props.onCancel();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && props.onCancel()}>
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="modal-title">
        <h2 id="modal-title">{props.title}</h2>
        <div class="modal-body">{props.children}</div>
        <div class="modal-actions">
          <button type="button" class="btn" onClick={props.onCancel}>
            Cancel
          </button>
          <button
            type="button"
            ref={confirm}
            class={props.danger === true ? 'btn btn-danger' : 'btn btn-primary'}
            disabled={props.busy === true}
            onClick={props.onConfirm}
          >
            {props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

/** A small line chart of the last samples. */
export function Sparkline(props: { values: readonly number[]; width?: number; height?: number; tone?: string }): JSX.Element {
  const width = props.width ?? 220;
  const height = props.height ?? 36;
  const d = sparkPath(props.values, width, height);
  return (
    <svg class={`spark ${props.tone ?? ''}`} width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true">
      {d !== '' && <path d={sparkArea(props.values, width, height)} class="spark-fill" />}
      {d !== '' && <path d={d} class="spark-line" />}
    </svg>
  );
}

/** A label and its value, for the overview grids. */
export function Field(props: { label: string; children: ComponentChildren; wide?: boolean }): JSX.Element {
  return (
    <div class={props.wide === true ? 'field field-wide' : 'field'}>
      <div class="field-label">{props.label}</div>
      <div class="field-value">{props.children}</div>
    </div>
  );
}

export function Empty(props: { children: ComponentChildren }): JSX.Element {
  return <div class="empty">{props.children}</div>;
}
