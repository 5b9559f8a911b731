/** What `boundedFetch` asks for. */
export interface BoundedFetchOptions {
  /** Request headers. */
  headers: Record<string, string>;
  /** One deadline (ms) for the whole exchange: connection, headers and body. */
  timeout: number;
  /** The most body bytes read; a longer body is a failed fetch. */
  maxBytes: number;
}

/** What `boundedFetch` got: the status, and the body text for a 2xx answer (`undefined` otherwise). */
export interface BoundedResponse {
  status: number;
  body: string | undefined;
}

/**
 * GETs `url` with a deadline that covers headers and body, a bounded body and no redirects.
 *
 * The deadline is a plain timer held by this call, not `AbortSignal.timeout()`: Node 20's undici
 * can lose that signal to garbage collection while a body streams (nodejs/undici#4627), and a
 * stalled or dripping body then hangs forever. Redirects use `redirect: 'manual'` (the `'error'`
 * mode has the same bug) and any 3xx is a failure: no redirect is ever followed.
 * @throws Error (`TimeoutError`, an HTTP 3xx, a body over `maxBytes`, a network error) when no
 * complete answer arrives in time.
 */
export async function boundedFetch(url: string, options: BoundedFetchOptions): Promise<BoundedResponse> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = new DOMException(`no complete answer within ${options.timeout} ms`, 'TimeoutError');
      controller.abort(error);
      reject(error);
    }, options.timeout);
  });
  try {
    return await Promise.race([exchange(url, options, controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
    controller.abort(); // releases the connection of a body left unread (non-2xx, over the cap)
  }
}

async function exchange(url: string, options: BoundedFetchOptions, signal: AbortSignal): Promise<BoundedResponse> {
  const response = await fetch(url, { headers: options.headers, redirect: 'manual', signal });
  const { status } = response;
  if (response.type === 'opaqueredirect' || (status >= 300 && status < 400)) {
    throw new Error(`HTTP ${status} redirect (redirects are never followed)`);
  }
  if (status < 200 || status >= 300) {
    return { status, body: undefined };
  }
  return { status, body: await readCapped(response, options.maxBytes) };
}

/** The body as UTF-8 text, reading no more than `maxBytes`. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    throw tooLarge(maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (response.body) {
    const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      length += next.value.byteLength;
      if (length > maxBytes) {
        reader.cancel().catch(() => undefined); // the abort in boundedFetch ends the connection
        throw tooLarge(maxBytes);
      }
      chunks.push(next.value);
    }
  }
  return Buffer.concat(chunks, length).toString('utf8');
}

function tooLarge(maxBytes: number): Error {
  return new RangeError(`the body exceeds ${maxBytes} bytes`);
}
