/** How numbers, money and times read in the console: one place, so every view agrees. */
const money = new Intl.NumberFormat('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const count = new Intl.NumberFormat('en-GB');
const time = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });

export const formatMoney = (n: number | null | undefined): string => (n === null || n === undefined ? '—' : money.format(n));
export const formatCount = (n: number | null | undefined): string => (n === null || n === undefined ? '—' : count.format(n));
export const formatTime = (iso: string | null | undefined): string => (iso ? time.format(new Date(iso)) : '—');

/** `4 s`, `3 min 20 s`, `1 h 05 min`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** Milliseconds with a unit that fits: `12 ms`, `1.4 s`. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The short form of an id the notifications use too (`#477a5539`). */
export const shortId = (id: string): string => `#${id.replace(/-/g, '').slice(-8)}`;
