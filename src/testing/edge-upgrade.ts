import { type IncomingMessage, type OutgoingHttpHeaders, request, STATUS_CODES } from 'node:http';
import { type Duplex } from 'node:stream';

/** The head of a raw HTTP/1.1 response: status line and header lines (raw pairs, as received). */
function responseHead(status: number, rawHeaders: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    head += `${rawHeaders[index]}: ${rawHeaders[index + 1]}\r\n`;
  }
  return `${head}\r\n`;
}

/** Answers an upgrade request on its raw socket with a JSON body, then closes the connection. */
export function refuseUpgrade(socket: Duplex, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  const headers = [
    'content-type', 'application/json; charset=utf-8',
    'content-length', String(Buffer.byteLength(json)),
    'cache-control', 'no-store',
    'connection', 'close',
  ];
  socket.end(responseHead(status, headers) + json);
  socket.once('finish', () => socket.destroy());
}

/** Pipes two sockets into each other; when either closes or fails, the other is closed too. */
function splice(client: Duplex, upstream: Duplex, tunnels: Set<Duplex>): void {
  tunnels.add(upstream);
  const closeBoth = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const socket of [client, upstream]) {
    socket.on('error', closeBoth);
    socket.on('close', () => {
      tunnels.delete(socket);
      closeBoth();
    });
  }
  upstream.pipe(client).pipe(upstream);
}

/** Where and how to send an upgrade upstream. */
export interface UpgradeTarget {
  hostname: string;
  port: string;
  path: string;
  headers: OutgoingHttpHeaders;
}

/**
 * Forwards an upgrade request (e.g. a WebSocket handshake) to the app. When the app switches
 * protocols, its 101 answer goes back to the client and the two connections are spliced, frames
 * passing both ways until either side closes; when it answers anything else, that answer is relayed
 * and the connection closed. An app that cannot be reached gets the client a 502.
 */
export function forwardUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, target: UpgradeTarget, tunnels: Set<Duplex>): void {
  tunnels.add(client);
  client.once('close', () => tunnels.delete(client));
  const upstream = request({ hostname: target.hostname, port: target.port, method: req.method, path: target.path, headers: target.headers });
  let answered = false;
  client.on('error', () => upstream.destroy());
  upstream.on('upgrade', (response: IncomingMessage, socket: Duplex, upstreamHead: Buffer) => {
    answered = true;
    client.write(responseHead(response.statusCode ?? 101, response.rawHeaders));
    if (upstreamHead.length > 0) {
      client.write(upstreamHead);
    }
    if (head.length > 0) {
      socket.write(head);
    }
    splice(client, socket, tunnels);
  });
  upstream.on('response', (response: IncomingMessage) => {
    answered = true;
    const kept = response.rawHeaders.filter((_value, index, raw) => {
      const name = (index % 2 === 0 ? raw[index] : raw[index - 1])?.toLowerCase();
      return name !== 'connection' && name !== 'transfer-encoding' && name !== 'content-length' && name !== 'keep-alive';
    });
    client.write(responseHead(response.statusCode ?? 502, [...kept, 'connection', 'close']));
    response.pipe(client);
  });
  upstream.on('error', (error) => {
    if (answered) {
      client.destroy();
    } else {
      refuseUpgrade(client, 502, { statusCode: 502, error: 'Bad Gateway', message: `edge proxy: ${error.message}` });
    }
  });
  upstream.end();
}
