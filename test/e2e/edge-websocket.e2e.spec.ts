import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient } from 'graphql-ws';
import { type IncomingMessage, type Server } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import WebSocket, { WebSocketServer } from 'ws';
import { messageText } from '../support/message-text.js';
import { CfAccessModule, CfAccessService, CfIdentity } from '../../src/index.js';
import { type CfAccessEdgeProxy, CfAccessEmulator } from '../../src/testing/index.js';
import { ADAPTERS, type AdapterName, type RunningApp, startApp } from '../support/start-app.js';
import { WhoamiGateway } from '../support/whoami-gateway.js';

@Resolver()
class GreetingResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
  }

  @Subscription(() => String, { resolve: (greeting: string) => greeting })
  greetings(@CfIdentity('email') email: string): AsyncGenerator<string> {
    // graphql-js needs an async iterable; there is nothing to await here.
    // eslint-disable-next-line @typescript-eslint/require-await
    return (async function* () {
      yield `hello ${email}`;
      yield 'bye';
    })();
  }
}

const EXPECTED_401 = { statusCode: 401, error: 'Unauthorized', message: 'No Cloudflare Access token was sent', reason: 'missing_token' };

let emulator: CfAccessEmulator;
beforeAll(async () => {
  emulator = await CfAccessEmulator.start();
});
afterAll(() => emulator.close());

/** Logs in through the edge's form and resolves the `CF_Authorization=…` cookie pair. */
async function login(edge: CfAccessEdgeProxy, email: string): Promise<string> {
  const res = await fetch(`${edge.url}/cdn-cgi/access/login`, {
    method: 'POST',
    body: new URLSearchParams({ email, redirect_url: '/' }),
    redirect: 'manual',
  });
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** Counts the upgrade requests that reach the app's HTTP server. */
function countUpgrades(server: Server): { count: number } {
  const counter = { count: 0 };
  server.on('upgrade', () => (counter.count += 1));
  return counter;
}

const wsUrl = (edge: CfAccessEdgeProxy, path: string) => edge.url.replace(/^http/, 'ws') + path;

/** Resolves the status and JSON body of an upgrade the edge refused. */
function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url, { headers });
    client.once('open', () => reject(new Error('the upgrade was accepted')));
    client.once('unexpected-response', (_req, res: IncomingMessage) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    client.once('error', () => undefined);
  });
}

describe.each(ADAPTERS)('edge proxy WebSocket upgrades (%s)', (adapter: AdapterName) => {
  describe('a plain ws server in the app', () => {
    let app: RunningApp;
    let edge: CfAccessEdgeProxy;
    let upgrades: { count: number };
    const serverCloses: number[] = [];
    let serverClosed: () => void = () => undefined;

    beforeAll(async () => {
      app = await startApp(adapter, { imports: [CfAccessModule.forRoot(emulator.moduleOptions())] });
      const service = app.app.get(CfAccessService);
      const server = app.app.getHttpServer() as Server;
      upgrades = countUpgrades(server);
      const wss = new WebSocketServer({ server, path: '/raw' });
      wss.on('connection', (socket, request) => {
        socket.on('close', (code) => {
          serverCloses.push(code);
          serverClosed();
        });
        socket.on('message', (data) => {
          const text = messageText(data);
          if (text === 'close-please') {
            socket.close(4000, 'bye');
          } else if (text === 'terminate-please') {
            socket.terminate();
          } else {
            socket.send(`echo:${text}`);
          }
        });
        void service.authenticate(request as never).then((identity) => {
          const header = request.headers['cf-access-jwt-assertion'];
          socket.send(JSON.stringify({ email: identity?.email ?? null, tokenIsSession: request.headers.cookie?.includes(`=${String(header)}`) }));
        });
      });
      edge = await emulator.proxy(app.url);
    });
    afterAll(async () => {
      await edge.close();
      await app.close();
    });

    /** Opens a ws connection through the edge and resolves it with its first message. */
    async function open(headers: Record<string, string>): Promise<{ client: WebSocket; first: unknown }> {
      const client = new WebSocket(wsUrl(edge, '/raw'), { headers });
      const first = await new Promise<unknown>((resolve, reject) => {
        client.once('message', (data) => resolve(JSON.parse(messageText(data))));
        client.once('error', reject);
      });
      return { client, first };
    }

    const nextMessage = (client: WebSocket) => new Promise<string>((resolve) => client.once('message', (data) => resolve(messageText(data))));
    const closeOf = (client: WebSocket) => new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));

    it("forwards an upgrade with a session: the app gets the session's token (a client's own value replaced), frames pass both ways", async () => {
      const cookie = await login(edge, 'ws@example.com');
      const forged = await emulator.signToken({ email: 'mallory@example.com' });
      const { client, first } = await open({ cookie, 'cf-access-jwt-assertion': forged });
      try {
        expect(first).toEqual({ email: 'ws@example.com', tokenIsSession: true });
        const answer = nextMessage(client);
        client.send('ping');
        expect(await answer).toBe('echo:ping');
      } finally {
        client.close();
      }
    });

    it('closes the app side when the client closes', async () => {
      const { client } = await open({ cookie: await login(edge, 'ws@example.com') });
      const closed = new Promise<void>((resolve) => (serverClosed = resolve));
      const before = serverCloses.length;
      client.close(4001, 'client done');
      await closed;
      expect(serverCloses.slice(before)).toEqual([4001]);
    });

    it('closes the client when the app closes, with the code the app sent', async () => {
      const { client } = await open({ cookie: await login(edge, 'ws@example.com') });
      const code = closeOf(client);
      client.send('close-please');
      expect(await code).toBe(4000);
    });

    it('closes the client when the app drops the connection', async () => {
      const { client } = await open({ cookie: await login(edge, 'ws@example.com') });
      const code = closeOf(client);
      client.send('terminate-please');
      expect(await code).toBe(1006);
    });

    it("answers an upgrade without a session with 401 and the library's JSON; it never reaches the app", async () => {
      const before = upgrades.count;
      const forged = await emulator.signToken({ email: 'mallory@example.com' });
      expect(await refusedUpgrade(wsUrl(edge, '/raw'))).toEqual({ status: 401, body: EXPECTED_401 });
      expect(await refusedUpgrade(wsUrl(edge, '/raw'), { 'cf-access-jwt-assertion': forged })).toEqual({ status: 401, body: EXPECTED_401 });
      expect(await refusedUpgrade(wsUrl(edge, '/raw'), { cookie: `CF_Authorization=${await emulator.signToken({ expiresIn: -120 })}` })).toEqual({
        status: 401,
        body: EXPECTED_401,
      });
      expect(upgrades.count).toBe(before);
    });
  });

  describe('a socket.io gateway, websocket transport only', () => {
    let app: RunningApp;
    let edge: CfAccessEdgeProxy;
    let upgrades: { count: number };

    beforeAll(async () => {
      app = await startApp(adapter, { imports: [CfAccessModule.forRoot(emulator.moduleOptions())], providers: [WhoamiGateway] });
      upgrades = countUpgrades(app.app.getHttpServer() as Server);
      edge = await emulator.proxy(app.url);
    });
    afterAll(async () => {
      await edge.close();
      await app.close();
    });

    const connect = (headers: Record<string, string>): Socket =>
      io(edge.url, { transports: ['websocket'], extraHeaders: headers, reconnection: false });

    it('connects over a WebSocket through the edge and answers with the identity of the session', async () => {
      const cookie = await login(edge, 'io@example.com');
      const socket = connect({ cookie, 'cf-access-jwt-assertion': await emulator.signToken({ email: 'mallory@example.com' }) });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
        expect(socket.io.engine.transport.name).toBe('websocket');
        expect(await socket.emitWithAck('whoami', {})).toBe('io@example.com');
      } finally {
        socket.close();
      }
    });

    it('fails to connect without a session, and the upgrade never reaches the app', async () => {
      const before = upgrades.count;
      const socket = connect({});
      try {
        const error = await new Promise<Error>((resolve, reject) => {
          socket.once('connect', () => reject(new Error('connected without a session')));
          socket.once('connect_error', resolve);
        });
        expect(error.message).toBe('websocket error');
        expect(upgrades.count).toBe(before);
      } finally {
        socket.close();
      }
    });
  });

  describe('a graphql-ws subscription', () => {
    let app: RunningApp;
    let edge: CfAccessEdgeProxy;

    beforeAll(async () => {
      const graphql =
        adapter === 'express'
          ? GraphQLModule.forRoot<ApolloDriverConfig>({
              driver: ApolloDriver,
              autoSchemaFile: true,
              subscriptions: { 'graphql-ws': true },
              // HTTP operations get { req }; graphql-ws ones the upgrade request as extra.request.
              context: ({ req, extra }: { req?: unknown; extra?: { request: unknown } }) => ({ req: req ?? extra?.request }),
            })
          : GraphQLModule.forRoot<MercuriusDriverConfig>({
              driver: MercuriusDriver,
              autoSchemaFile: true,
              subscription: { context: (_socket: unknown, request: unknown) => ({ req: request }) },
            });
      app = await startApp(adapter, {
        imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true }), graphql],
        providers: [GreetingResolver],
      });
      edge = await emulator.proxy(app.url);
    });
    afterAll(async () => {
      await edge.close();
      await app.close();
    });

    it('streams a subscription through the edge with the identity of the session', async () => {
      const cookie = await login(edge, 'gql@example.com');
      class SessionWebSocket extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers: { cookie } });
        }
      }
      const client = createClient({ url: wsUrl(edge, '/graphql'), webSocketImpl: SessionWebSocket, retryAttempts: 0, lazy: true });
      try {
        const received: unknown[] = [];
        for await (const result of client.iterate({ query: 'subscription { greetings }' })) {
          received.push(result);
        }
        expect(received).toEqual([{ data: { greetings: 'hello gql@example.com' } }, { data: { greetings: 'bye' } }]);
      } finally {
        await client.dispose();
      }
    });
  });
});
