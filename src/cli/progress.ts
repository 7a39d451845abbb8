import type { Writable } from 'node:stream';

export interface ProgressUpdate {
  /** Items done so far. */
  done: number;
  total: number;
  /** Short text after the counter (loss, best Dice, case name, …). */
  detail?: string;
}

/**
 * Progress for long work: a redrawn bar with ETA on a TTY, otherwise a plain line at most every
 * `intervalMs` (and at the end), so logs of non-interactive runs stay readable.
 */
export class Progress {
  private readonly start = Date.now();
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    private readonly stream: Writable,
    private readonly label: string,
    private readonly intervalMs = 10_000,
  ) {
    this.tty = Boolean((stream as Writable & { isTTY?: boolean }).isTTY);
  }

  update({ done, total, detail }: ProgressUpdate): void {
    const now = Date.now();
    const finished = done >= total;
    if (!this.tty && !finished && now - this.lastPrint < this.intervalMs && done !== 1) return;
    this.lastPrint = now;
    const elapsed = (now - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : Number.NaN;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const tail = `${done}/${total} ${pct}%${Number.isFinite(eta) && !finished ? ` ETA ${formatDuration(eta)}` : ''}${detail ? ` ${detail}` : ''}`;
    if (this.tty) {
      const width = 24;
      const filled = total > 0 ? Math.round((width * done) / total) : width;
      this.stream.write(
        `\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}`,
      );
      if (finished) this.stream.write('\n');
    } else {
      this.stream.write(`${this.label} ${tail}\n`);
    }
  }

  /** Ends a TTY bar line early (on error or interruption). */
  close(): void {
    if (this.tty) this.stream.write('\n');
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
