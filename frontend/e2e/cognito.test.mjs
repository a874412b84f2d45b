// Browser test of Cognito's email + password sign-in (what `up` deploys: no hosted UI domain): the
// page built with VITE_AUTH_MODE=cognito and VITE_AUTH_COGNITO_ENDPOINT pointing at moto's server,
// where a user pool, app client and user are made like the deployer's. The page reaches moto through
// a front that answers cross-origin requests as Cognito does. Needs ONCELY_PYTHON (moto).
// Run: npm run test:browser  (from frontend/).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { freePort, pageServer, resultsDir, servePage, stopAll } from './harness.mjs';
import { cognitoCorsFront, cognitoPool, motoUnavailable, startMoto } from './moto.mjs';
import { assertAccessible } from './page.mjs';

const EMAIL = 'ada@example.com';
const PASSWORD = 'Corr3ct-horse!';
const skip = motoUnavailable();
let moto;
let front;
let pool;
let browser;
let origin;

before(
  async () => {
    if (skip) return;
    moto = await startMoto();
    pool = await cognitoPool(moto.endpoint, { [EMAIL]: PASSWORD });
    front = await cognitoCorsFront(moto.endpoint);
    const page = await pageServer();
    origin = page.origin;
    browser = await servePage(page, {
      VITE_API_URL: `http://127.0.0.1:${await freePort()}`, // no API: only signing in is tested here
      VITE_AUTH_MODE: 'cognito',
      VITE_AUTH_ISSUER: pool.issuer,
      VITE_AUTH_CLIENT_ID: pool.clientId,
      VITE_AUTH_DOMAIN: '',
      VITE_AUTH_COGNITO_ENDPOINT: front.endpoint,
    });
  },
  { timeout: 5 * 60_000 },
);

after(async () => {
  await browser?.close().catch(() => {});
  await stopAll();
  await front?.close();
  await moto?.stop();
});

describe('Cognito email + password sign-in in the browser (moto)', { skip }, () => {
  test('a wrong password is refused by its code; the right one signs in as the sub, across a reload, until sign-out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const targets = [];
    page.on('request', (r) => {
      if (r.url() === front.endpoint && r.method() === 'POST') targets.push(r.headers()['x-amz-target']);
    });
    try {
      await page.goto(origin);
      await page.getByTestId('cognito-email').fill(EMAIL);
      await page.getByTestId('cognito-password').fill('not-the-password');
      await page.getByTestId('cognito-sign-in').click();
      await page.getByTestId('auth-error').waitFor();
      assert.match(await page.getByTestId('auth-error').textContent(), /Incorrect email or password/);
      assert.equal(await page.getByTestId('signed-in-as').getAttribute('data-subject'), '');
      await assertAccessible(page, 'the Cognito sign-in form with its error');
      // No stack answers here: the numbers panel says so, and keeps asking.
      await page.locator('[data-testid=metrics][data-state=unreachable]').waitFor();
      assert.match(await page.getByTestId('metrics').textContent(), /not read yet: no answer/);

      await page.getByTestId('cognito-password').fill(PASSWORD);
      await page.getByTestId('cognito-sign-in').click();
      const sub = pool.subs[EMAIL];
      await page.locator(`[data-testid=signed-in-as][data-subject="${sub}"]`).waitFor();
      assert.equal(await page.getByTestId('cognito-email').count(), 0, 'the form goes once signed in');
      assert.equal(await page.getByTestId('auth-error').count(), 0);
      assert.deepEqual(targets, [
        'AWSCognitoIdentityProviderService.InitiateAuth',
        'AWSCognitoIdentityProviderService.InitiateAuth',
      ]);

      await page.reload();
      await page.locator(`[data-testid=signed-in-as][data-subject="${sub}"]`).waitFor();

      await page.getByTestId('sign-out').click();
      await page.locator('[data-testid=signed-in-as][data-subject=""]').waitFor();
      await page.getByTestId('cognito-email').waitFor();
      await page.reload();
      await page.getByTestId('cognito-email').waitFor();
      assert.equal(await page.getByTestId('signed-in-as').getAttribute('data-subject'), '');
    } catch (e) {
      await page.screenshot({ path: join(resultsDir, 'cognito-sign-in.png') }).catch(() => {});
      throw e;
    } finally {
      await context.close();
    }
  });
});
