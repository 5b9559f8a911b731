import 'reflect-metadata';
import { Controller, Get, Header } from '@nestjs/common';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { type Browser } from 'playwright-core';
import { CfAccessModule } from '../../src/index.js';
import { type CfAccessEdgeProxy, CfAccessEmulator } from '../../src/testing/index.js';
import { describeWithChromium, launchChromium } from '../support/browser.js';
import { type RunningApp, startApp } from '../support/start-app.js';
import { WhoamiGateway } from '../support/whoami-gateway.js';

/**
 * socket.io's default transports: it starts with long-polling and upgrades to a WebSocket. An edge
 * that cannot upgrade leaves it on polling, silently; the page reports the transport it ends on.
 */
const PAGE = `<!doctype html><html><head><title>socket</title></head><body><p id="status">connecting</p>
<script src="/socket.io/socket.io.js"></script>
<script>
  const socket = io();
  socket.on('connect', () => {
    const report = () =>
      socket.emit('whoami', {}, (email) => {
        document.getElementById('status').textContent = socket.io.engine.transport.name + ' ' + email;
      });
    if (socket.io.engine.transport.name === 'websocket') report();
    else socket.io.engine.once('upgrade', report);
  });
</script></body></html>`;

@Controller()
class PageController {
  @Get('socket')
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }
}

describeWithChromium('WebSocket browser test')('socket.io through the edge proxy in a real browser', () => {
  let emulator: CfAccessEmulator;
  let app: RunningApp;
  let edge: CfAccessEdgeProxy;
  let browser: Browser;

  beforeAll(async () => {
    emulator = await CfAccessEmulator.start();
    app = await startApp('express', {
      imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true })],
      controllers: [PageController],
      providers: [WhoamiGateway],
    });
    edge = await emulator.proxy(app.url);
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await emulator?.close();
    await app?.close();
  });

  it('logs in on the login page, then socket.io runs over a WebSocket with the session identity', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${edge.url}/socket`);
    await page.fill('#email', 'browser@example.com');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.waitForURL(`${edge.url}/socket`);
    await page.locator('#status', { hasNotText: 'connecting' }).waitFor({ timeout: 10_000 });
    await expect(page.locator('#status').textContent()).resolves.toBe('websocket browser@example.com');
    await context.close();
  });
});
