import 'reflect-metadata';
import { type ExecutionContext, UseGuards } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { io, type Socket } from 'socket.io-client';
import {
  type CfAccessFullIdentity,
  CfAccessGuard,
  CfAccessModule,
  CfFullIdentity,
  CfIdentity,
  emailIn,
  OptionalIdentity,
  RequireIdentity,
} from '../../src/index.js';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { type AdapterName, type RunningApp, startApp } from '../support/start-app.js';

@Resolver()
class ProfileResolver {
  @Query(() => String)
  me(@CfIdentity('email') email: string): string {
    return email;
  }

  @Query(() => String)
  @RequireIdentity(emailIn('admin@example.com'))
  admin(): string {
    return 'welcome';
  }

  @Query(() => String, { nullable: true })
  @OptionalIdentity()
  maybe(@CfIdentity('email') email: string | undefined): string | null {
    return email ?? null;
  }

  @Query(() => String)
  fullName(@CfFullIdentity() identity: CfAccessFullIdentity): string {
    return String(identity.name);
  }
}

@WebSocketGateway()
@UseGuards(CfAccessGuard)
class ProfileGateway {
  @SubscribeMessage('whoami')
  whoami(@CfIdentity('email') email: string): string {
    return email;
  }

  @SubscribeMessage('admin')
  @RequireIdentity(emailIn('admin@example.com'))
  admin(): string {
    return 'welcome';
  }
}

interface GraphqlAnswer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

let emulator: CfAccessEmulator;
beforeAll(async () => {
  emulator = await CfAccessEmulator.start();
});
afterAll(() => emulator.close());

const drivers: [string, AdapterName, () => unknown][] = [
  ['Apollo on Express', 'express', () => GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true })],
  [
    'Mercurius on Fastify',
    'fastify',
    () => GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true }),
  ],
];

describe.each(drivers)('GraphQL resolvers (%s)', (_name, adapter, graphqlModule) => {
  let app: RunningApp;

  beforeAll(async () => {
    app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true }), graphqlModule() as never],
      providers: [ProfileResolver],
    });
  });
  afterAll(() => app.close());

  async function query(text: string, token?: string): Promise<GraphqlAnswer> {
    const res = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { 'cf-access-jwt-assertion': token } : {}) },
      body: JSON.stringify({ query: text }),
    });
    return (await res.json()) as GraphqlAnswer;
  }

  it('answers a query with the verified identity', async () => {
    const answer = await query('{ me }', await emulator.signToken({ email: 'gql@example.com' }));
    expect(answer).toEqual({ data: { me: 'gql@example.com' } });
  });

  it('refuses a query without a token: extensions carry code, status and reason', async () => {
    const answer = await query('{ me }');
    expect(answer.data ?? null).toBeNull();
    expect(answer.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', statusCode: 401, reason: 'missing_token' });
  });

  it('refuses a query with an invalid token', async () => {
    const answer = await query('{ me }', await emulator.signToken({ aud: ['other'] }));
    expect(answer.errors?.[0]?.extensions).toMatchObject({ statusCode: 401, reason: 'wrong_audience' });
  });

  it('applies @RequireIdentity to a resolver: allowed and refused (403)', async () => {
    expect(await query('{ admin }', await emulator.signToken({ email: 'admin@example.com' }))).toEqual({
      data: { admin: 'welcome' },
    });
    const refused = await query('{ admin }', await emulator.signToken({ email: 'user@example.com' }));
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', statusCode: 403, reason: 'identity_rejected' });
  });

  it('honours @OptionalIdentity() on a resolver', async () => {
    expect(await query('{ maybe }')).toEqual({ data: { maybe: null } });
  });

  it('resolves @CfFullIdentity() in a resolver', async () => {
    const token = await emulator.signToken({ email: 'ada@example.com', name: 'Ada Lovelace' });
    expect(await query('{ fullName }', token)).toEqual({ data: { fullName: 'Ada Lovelace' } });
  });
});

describe('WebSocket gateway (socket.io)', () => {
  let app: RunningApp;

  beforeAll(async () => {
    app = await startApp('express', {
      imports: [CfAccessModule.forRoot(emulator.moduleOptions())],
      providers: [ProfileGateway],
    });
  });
  afterAll(() => app.close());

  async function connect(headers: Record<string, string>): Promise<Socket> {
    const socket = io(app.url, { transports: ['websocket'], extraHeaders: headers, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return socket;
  }

  /** Emits `event` and resolves the acknowledgement or the exception the server sent instead. */
  async function send(socket: Socket, event: string): Promise<{ ack?: unknown; exception?: unknown }> {
    return new Promise((resolve) => {
      socket.once('exception', (exception: unknown) => resolve({ exception }));
      socket.emit(event, {}, (ack: unknown) => resolve({ ack }));
    });
  }

  it('answers a message with the identity from the handshake header', async () => {
    const socket = await connect({ 'cf-access-jwt-assertion': await emulator.signToken({ email: 'ws@example.com' }) });
    try {
      expect(await send(socket, 'whoami')).toEqual({ ack: 'ws@example.com' });
    } finally {
      socket.close();
    }
  });

  it('reads the CF_Authorization cookie of the handshake', async () => {
    const socket = await connect({ cookie: `CF_Authorization=${await emulator.signToken({ email: 'cookie@example.com' })}` });
    try {
      expect(await send(socket, 'whoami')).toEqual({ ack: 'cookie@example.com' });
    } finally {
      socket.close();
    }
  });

  it('refuses a message without a token with an exception event carrying the 401 reason', async () => {
    const socket = await connect({});
    try {
      expect(await send(socket, 'whoami')).toEqual({
        exception: expect.objectContaining({ statusCode: 401, reason: 'missing_token' }),
      });
    } finally {
      socket.close();
    }
  });

  it('applies @RequireIdentity to a message handler (403)', async () => {
    const socket = await connect({ 'cf-access-jwt-assertion': await emulator.signToken({ email: 'user@example.com' }) });
    try {
      expect(await send(socket, 'admin')).toEqual({
        exception: expect.objectContaining({ statusCode: 403, reason: 'identity_rejected' }),
      });
    } finally {
      socket.close();
    }
  });
});

describe('unsupported execution contexts', () => {
  it('refuses an rpc context with a clear error instead of letting it through', async () => {
    const moduleRef = await (await import('@nestjs/testing')).Test.createTestingModule({
      imports: [CfAccessModule.forRoot(emulator.moduleOptions())],
    }).compile();
    const guard = moduleRef.get(CfAccessGuard);
    const handler = Object.getOwnPropertyDescriptor(ProfileGateway.prototype, 'whoami')?.value as () => string;
    const context = new ExecutionContextHost([{ pattern: 'sum' }, {}], ProfileGateway, handler);
    context.setType('rpc');
    await expect(guard.canActivate(context as ExecutionContext)).rejects.toThrow(
      /cannot find the request headers in the "rpc" execution context/,
    );
    await moduleRef.close();
  });
});
