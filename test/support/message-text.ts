import { type RawData } from 'ws';

/** A `ws` message as text, whatever form the library delivered it in. */
export function messageText(data: RawData): string {
  return Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data as ArrayBuffer)]).toString('utf8');
}
