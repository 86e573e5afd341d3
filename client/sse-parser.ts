// A small server-sent-events reader for the CLI and the main process (Node has no EventSource): feed it chunks, get
// whole events. Lines may be split across chunks; comments (": keepalive") are skipped.

export interface SseEvent {
  event: string;
  data: string;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private dataChars = 0;

  /** Events completed by this chunk. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.event = '';
        this.data = [];
        this.dataChars = 0;
      } else if (line.startsWith(':')) {
        continue;
      } else {
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') this.event = value;
        else if (field === 'data') {
          this.data.push(value);
          this.dataChars += value.length;
        }
      }
    }
    // A stream that never ends a line or an event must not grow without bound.
    if (this.buffer.length + this.dataChars > 4 * 1024 * 1024) {
      this.buffer = '';
      this.data = [];
      this.dataChars = 0;
    }
    return out;
  }
}
