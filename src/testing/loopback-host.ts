import { isIPv4 } from 'node:net';

/** Whether `host` names only this machine: `localhost`, `::1` (bracketed or not), or `127.0.0.0/8`. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  return name === 'localhost' || name === '::1' || name === '[::1]' || (isIPv4(name) && name.startsWith('127.'));
}
