// Lines out of a stream that arrives in chunks. A chunk may end inside a line, and a byte chunk inside a
// UTF-8 character, which decoding each chunk on its own would turn into U+FFFD. A line that never ends would
// be held without bound, so the caller sets how much may wait and what going past it means for its stream.
// TextDecoder rather than string_decoder: it is global, so this file imports nothing.

/**
 * What a line left waiting past the limit means for the stream (the limit bounds what is held between chunks;
 * a longer line that arrives whole within one chunk passes, as the chunk bounds it already):
 * - 'fail': the stream is taken as broken: push() throws LineOverflowError, then again on every later push.
 * - 'drop': the line is discarded up to its newline and counted in `dropped`; the lines after it are kept.
 */
export type LineOverflow = 'fail' | 'drop';

export interface LineLimit {
  /** UTF-16 code units, as String.length counts. */
  maxPending: number;
  overflow: LineOverflow;
}

export class LineOverflowError extends Error {
  constructor(readonly maxPending: number) {
    super(`more than ${maxPending} characters arrived without a line's end`);
    this.name = 'LineOverflowError';
  }
}

export class LineBuffer {
  /** How often held text was discarded under 'drop'. */
  dropped = 0;
  private pending = '';
  private failed: LineOverflowError | undefined;
  /** Under 'drop': the rest of an over-long line is still to come, up to its newline. */
  private skipping = false;
  // ignoreBOM keeps a leading U+FEFF, as Buffer.toString() does.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  /** Without a limit, a line is held however long it grows. */
  constructor(private readonly limit?: LineLimit) {}

  /** The lines this chunk completes, without their '\n'. */
  push(chunk: Uint8Array | string): string[] {
    if (this.failed) throw this.failed;
    let text =
      this.pending + (typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }));
    if (this.skipping) {
      const end = text.indexOf('\n');
      if (end < 0) return [];
      this.skipping = false;
      text = text.slice(end + 1);
    }
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    const max = this.limit?.maxPending ?? Infinity;
    if (this.pending.length > max) {
      this.pending = '';
      if (this.limit?.overflow === 'fail') throw (this.failed = new LineOverflowError(max));
      this.dropped++;
      this.skipping = true;
    }
    return lines;
  }

  /** The last line when the stream ended without its newline; for callers that want it. */
  end(): string | undefined {
    if (this.failed || this.skipping) return undefined;
    const last = this.pending + this.decoder.decode();
    this.pending = '';
    return last === '' ? undefined : last;
  }
}
