import 'reflect-metadata';
import {
  Controller,
  type ExecutionContext,
  Get,
  Global,
  HttpException,
  Injectable,
  Module,
  Req,
  UseGuards,
} from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { io, type Socket } from 'socket.io-client';
import {
  CfAccessGuard,
  type CfAccessIdentity,
  CfAccessModule,
  CfAccessToken,
  type CfAccessUserResolver,
  CfIdentity,
  CfUser,
  OptionalIdentity,
  Public,
  RequireIdentity,
} from '../../src/index.js';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { type AdapterName, ADAPTERS, jwt, type RunningApp, startApp } from '../support/start-app.js';

/** The app's own user type. */
interface AppUser {
  id: number;
  email: string;
  role: 'admin' | 'member';
}

/** Every call, in order: resolver lookups and predicate runs. */
const calls: string[] = [];

/** The app's user store: a provider of the app's own, which the resolver injects. */
@Injectable()
class UsersDirectory {
  private readonly users: AppUser[] = [
    { id: 1, email: 'ada@example.com', role: 'admin' },
    { id: 2, email: 'bob@example.com', role: 'member' },
  ];

  /** `undefined` for an unknown email; throws for the emails that exercise failures. */
  find(email: string | undefined): AppUser | undefined {
    if (email === 'locked@example.com') {
      throw new HttpException({ statusCode: 423, message: 'This account is locked', reason: 'account_locked' }, 423);
    }
    if (email === 'broken@example.com') {
      throw new Error('users database unreachable');
    }
    return this.users.find((user) => user.email === email);
  }
}

@Injectable()
class UsersResolver implements CfAccessUserResolver<AppUser> {
  constructor(private readonly directory: UsersDirectory) {}

  /** Synchronous on purpose (the README's example is async): both forms are awaited alike. */
  resolve(identity: CfAccessIdentity, context: ExecutionContext): AppUser | null {
    calls.push(`resolve ${identity.email} (${context.getType()})`);
    return this.directory.find(identity.email) ?? null;
  }
}

@Module({ providers: [UsersDirectory], exports: [UsersDirectory] })
class UsersModule {}

@Global()
@Module({ providers: [UsersDirectory], exports: [UsersDirectory] })
class GlobalUsersModule {}

@Controller()
class AccountController {
  @Get('me')
  me(@CfUser() user: AppUser, @CfUser<AppUser>('id') id: number, @Req() request: { user?: unknown }) {
    return { user, id, requestUserIsSame: request.user === user };
  }

  @Get('admin')
  @RequireIdentity((_identity, _context, tools) => {
    calls.push('predicate');
    return tools.user<AppUser>()?.role === 'admin';
  })
  admin(@CfUser<AppUser>('email') email: string) {
    return { admin: email };
  }

  @OptionalIdentity()
  @Get('maybe')
  maybe(
    @CfUser() user: AppUser | undefined,
    @CfIdentity('email') email: string | undefined,
    @CfAccessToken() token: string | undefined,
    @Req() request: { user?: unknown },
  ) {
    return { user: user ?? null, email: email ?? null, hasToken: token !== undefined, requestUser: request.user ?? null };
  }

  @Public()
  @Get('public')
  open(@CfUser() user: AppUser | undefined) {
    return { user: user ?? null };
  }

  @Get('prototype')
  prototype(@CfUser('constructor') constructor: unknown, @CfUser('toString') toString: unknown) {
    return { constructor: constructor === undefined, toString: toString === undefined };
  }
}

/** Guarded twice on every request: by the global guard and by its own @UseGuards. */
@Controller('twice')
@UseGuards(CfAccessGuard)
class TwiceGuardedController {
  @Get()
  twice(@CfUser<AppUser>('id') id: number) {
    return { id };
  }
}

let emulator: CfAccessEmulator;
beforeAll(async () => {
  emulator = await CfAccessEmulator.start();
});
afterAll(() => emulator.close());
beforeEach(() => {
  calls.length = 0;
});

const ada: AppUser = { id: 1, email: 'ada@example.com', role: 'admin' };
const bob: AppUser = { id: 2, email: 'bob@example.com', role: 'member' };
const as = async (email: string) => jwt(await emulator.signToken({ email }));

const modules: [string, () => unknown[]][] = [
  [
    'forRootAsync({ imports })',
    () => [
      CfAccessModule.forRootAsync({
        imports: [UsersModule],
        useFactory: () => ({ ...emulator.moduleOptions(), userResolver: UsersResolver }),
        globalGuard: true,
      }),
    ],
  ],
  [
    'forRoot and a global module',
    () => [GlobalUsersModule, CfAccessModule.forRoot({ ...emulator.moduleOptions(), userResolver: UsersResolver, globalGuard: true })],
  ],
];

describe.each(ADAPTERS)('userResolver (%s)', (adapter: AdapterName) => {
  describe.each(modules)('with %s', (_name, imports) => {
    let app: RunningApp;
    beforeAll(async () => {
      app = await startApp(adapter, { imports: imports() as [], controllers: [AccountController, TwiceGuardedController] });
    });
    afterAll(() => app.close());

    it("puts the resolver's user on request.user and @CfUser(), resolved by a provider the resolver injects", async () => {
      expect(await app.get('/me', await as('ada@example.com'))).toMatchObject({
        status: 200,
        body: { user: ada, id: 1, requestUserIsSame: true },
      });
      expect(calls).toEqual(['resolve ada@example.com (http)']);
    });

    it('refuses an identity the resolver has no user for with 403 user_not_found', async () => {
      expect(await app.get('/me', await as('stranger@example.com'))).toMatchObject({
        status: 403,
        body: { statusCode: 403, error: 'Forbidden', reason: 'user_not_found' },
      });
    });

    it("passes a resolver's HttpException on as is", async () => {
      expect(await app.get('/me', await as('locked@example.com'))).toMatchObject({
        status: 423,
        body: { statusCode: 423, message: 'This account is locked', reason: 'account_locked' },
      });
    });

    it('turns any other throw into 403 user_resolver_error, logged at warn without the token, never a 500', async () => {
      const headers = await as('broken@example.com');
      app.logger.lines.length = 0;
      expect(await app.get('/me', headers)).toMatchObject({
        status: 403,
        body: { statusCode: 403, error: 'Forbidden', reason: 'user_resolver_error' },
      });
      expect(app.logger.lines).toContainEqual({
        level: 'warn',
        message: expect.stringMatching(/userResolver threw on AccountController\.me: Error: users database unreachable/),
      });
      expect(app.logger.text()).not.toContain(headers['cf-access-jwt-assertion']);
    });

    it('is never called for a request without a valid token (401 first)', async () => {
      expect(await app.get('/me')).toMatchObject({ status: 401, body: { reason: 'missing_token' } });
      expect(await app.get('/me', jwt(await emulator.signToken({ email: 'ada@example.com', aud: ['other'] })))).toMatchObject({
        status: 401,
        body: { reason: 'wrong_audience' },
      });
      expect(calls).toEqual([]);
    });

    it('runs once, before predicates, which get the user through tools.user()', async () => {
      expect(await app.get('/admin', await as('ada@example.com'))).toMatchObject({ status: 200, body: { admin: 'ada@example.com' } });
      expect(calls).toEqual(['resolve ada@example.com (http)', 'predicate']);
      expect(await app.get('/admin', await as('bob@example.com'))).toMatchObject({ status: 403, body: { reason: 'identity_rejected' } });
    });

    it('looks the user up once per request, even when two guards judge it', async () => {
      expect(await app.get('/twice', await as('ada@example.com'))).toMatchObject({ status: 200, body: { id: 1 } });
      expect(calls).toEqual(['resolve ada@example.com (http)']);
    });

    it('refuses with user_not_found before any predicate runs', async () => {
      expect(await app.get('/admin', await as('stranger@example.com'))).toMatchObject({ status: 403, body: { reason: 'user_not_found' } });
      expect(calls).toEqual(['resolve stranger@example.com (http)']);
    });

    it('on @OptionalIdentity(): a user when there is one, anonymous when the resolver has none', async () => {
      expect(await app.get('/maybe', await as('bob@example.com'))).toMatchObject({
        status: 200,
        body: { user: bob, email: 'bob@example.com', hasToken: true, requestUser: bob },
      });
      expect(await app.get('/maybe', await as('stranger@example.com'))).toMatchObject({
        status: 200,
        body: { user: null, email: null, hasToken: false, requestUser: null },
      });
      expect(await app.get('/maybe')).toMatchObject({ status: 200, body: { user: null, email: null, hasToken: false } });
      expect(calls).toEqual(['resolve bob@example.com (http)', 'resolve stranger@example.com (http)']);
    });

    it('on @OptionalIdentity(): a resolver that throws still refuses (it does not mean anonymous)', async () => {
      expect(await app.get('/maybe', await as('broken@example.com'))).toMatchObject({ status: 403, body: { reason: 'user_resolver_error' } });
      expect(await app.get('/maybe', await as('locked@example.com'))).toMatchObject({ status: 423 });
    });

    it('is not called on @Public() routes, where @CfUser() is undefined', async () => {
      expect(await app.get('/public', await as('ada@example.com'))).toMatchObject({ status: 200, body: { user: null } });
      expect(calls).toEqual([]);
    });

    it("never reads Object.prototype's properties through @CfUser('constructor')", async () => {
      expect(await app.get('/prototype', await as('ada@example.com'))).toMatchObject({
        status: 200,
        body: { constructor: true, toString: true },
      });
    });
  });

  it('without a userResolver, @CfUser() is undefined and request.user is left alone', async () => {
    const app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true })],
      controllers: [AccountController],
    });
    try {
      expect(await app.get('/maybe', await as('ada@example.com'))).toMatchObject({
        status: 200,
        body: { user: null, email: 'ada@example.com', hasToken: true, requestUser: null },
      });
    } finally {
      await app.close();
    }
  });

  it("fails start-up naming the resolver when its dependencies cannot be resolved", async () => {
    await expect(
      startApp(adapter, {
        imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), userResolver: UsersResolver })],
        controllers: [AccountController],
      }),
    ).rejects.toThrow(/UsersResolver.*UsersDirectory/s);
  });

  it('fails start-up naming userResolver when it is not a resolver class', async () => {
    await expect(
      startApp(adapter, {
        imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), userResolver: UsersDirectory as never })],
      }),
    ).rejects.toThrow(/"userResolver" must be a class with a resolve\(identity, context\) method/);
  });
});

@Resolver()
class AccountQueries {
  @Query(() => String)
  myRole(@CfUser<AppUser>('role') role: string): string {
    return role;
  }

  @Query(() => Number)
  myId(@CfUser() user: AppUser): number {
    return user.id;
  }
}

const drivers: [string, AdapterName, () => unknown][] = [
  ['Apollo on Express', 'express', () => GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true })],
  ['Mercurius on Fastify', 'fastify', () => GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true })],
];

describe.each(drivers)('userResolver in GraphQL resolvers (%s)', (_name, adapter, graphqlModule) => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp(adapter, {
      imports: [
        GlobalUsersModule,
        CfAccessModule.forRoot({ ...emulator.moduleOptions(), userResolver: UsersResolver, globalGuard: true }),
        graphqlModule() as never,
      ],
      providers: [AccountQueries],
    });
  });
  afterAll(() => app.close());

  async function query(text: string, email: string): Promise<unknown> {
    const res = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await as(email)) },
      body: JSON.stringify({ query: text }),
    });
    return res.json();
  }

  it('injects the user with @CfUser() and @CfUser(prop), resolved in the graphql context', async () => {
    expect(await query('{ myRole myId }', 'ada@example.com')).toEqual({ data: { myRole: 'admin', myId: 1 } });
    expect(calls).toEqual(['resolve ada@example.com (graphql)']); // two guarded fields, one lookup
  });

  it('reports user_not_found as a FORBIDDEN GraphQL error', async () => {
    const answer = (await query('{ myRole }', 'stranger@example.com')) as { errors?: { extensions?: unknown }[] };
    expect(answer.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', statusCode: 403, reason: 'user_not_found' });
  });
});

@WebSocketGateway()
@UseGuards(CfAccessGuard)
class AccountGateway {
  @SubscribeMessage('whoami')
  whoami(@CfUser() user: AppUser): AppUser {
    return user;
  }
}

describe('userResolver in a WebSocket gateway (socket.io)', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp('express', {
      imports: [GlobalUsersModule, CfAccessModule.forRoot({ ...emulator.moduleOptions(), userResolver: UsersResolver })],
      providers: [AccountGateway],
    });
  });
  afterAll(() => app.close());

  /** Sends `whoami` `times` times on one connection; resolves each acknowledgement or exception. */
  async function whoami(email: string, times = 1): Promise<{ ack?: unknown; exception?: unknown }[]> {
    const socket: Socket = io(app.url, { transports: ['websocket'], extraHeaders: await as(email), reconnection: false });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const answers: { ack?: unknown; exception?: unknown }[] = [];
      for (let sent = 0; sent < times; sent += 1) {
        answers.push(
          await new Promise((resolve) => {
            socket.once('exception', (exception: unknown) => resolve({ exception }));
            socket.emit('whoami', {}, (ack: unknown) => resolve({ ack }));
          }),
        );
      }
      return answers;
    } finally {
      socket.close();
    }
  }

  it('injects the user with @CfUser(), resolved in the ws context once per message', async () => {
    expect(await whoami('ada@example.com', 2)).toEqual([{ ack: ada }, { ack: ada }]);
    expect(calls).toEqual(['resolve ada@example.com (ws)', 'resolve ada@example.com (ws)']);
  });

  it('refuses a message whose identity has no user with an exception event (403 user_not_found)', async () => {
    expect(await whoami('stranger@example.com')).toEqual([
      { exception: expect.objectContaining({ statusCode: 403, reason: 'user_not_found' }) },
    ]);
  });
});
