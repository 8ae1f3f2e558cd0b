// A person's path through the page in real headless Chromium, on a phone-sized
// screen: sign up, log out, log in, submit a resume with two images, find it in the
// list with its thumbnails, edit it (rename, swap an image), then "Save 10 times".
// Leaves screenshots as artifacts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { jpeg, png } from './images.mjs';

const BASE_URL = process.env.BASE_URL;
const ARTIFACT_DIR = process.env.ARTIFACT_DIR || join(import.meta.dirname, 'artifacts');

test('sign up, log in, submit a resume with two images and see it listed', { timeout: 120_000 }, async () => {
  assert.ok(BASE_URL, 'BASE_URL must point at a running modu-app');
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'modu-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // e.g. a proxy and the CA to trust, to reach a stack deployed on the local cloud
      ...(process.env.CHROMIUM_EXTRA_ARGS || '').split(' ').filter(Boolean)],
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    const failures = [];
    page.on('pageerror', e => failures.push(e.message));
    const user = `kim${Date.now() % 1e9}`;
    const password = 'correct horse battery';

    await page.goto(`${BASE_URL}/#/signup`);
    await page.fill('#signup-form input[name=username]', user);
    await page.fill('#signup-form input[name=password]', password);
    await page.fill('#signup-form input[name=password_confirm]', password);
    await page.click('#signup-form button[type=submit]');
    await page.waitForSelector('#resume-form');
    assert.match(await page.textContent('#whoami'), new RegExp(user));

    await page.click('#logout');
    await page.waitForSelector('nav a[href="#/login"]:not([hidden])');
    await page.goto(`${BASE_URL}/#/login`);
    await page.fill('#login-form input[name=username]', user);
    await page.fill('#login-form input[name=password]', password);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#resume-form');

    await page.fill('#resume-form input[name=name]', '김민지');
    await page.fill('#resume-form textarea[name=motivation]', '사용자에게 도움이 되는 서비스를 만들고 싶습니다.');
    await page.selectOption('#resume-form select[name=task]', { label: 'SW 개발' });
    await page.setInputFiles('#resume-form input[name=image]', [
      { name: 'portfolio-1.jpg', mimeType: 'image/jpeg', buffer: jpeg(64, 48) },
      { name: 'portfolio-2.png', mimeType: 'image/png', buffer: png(48, 64) },
    ]);
    await page.waitForFunction(() => document.querySelectorAll('#previews img').length === 2);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'resume-form.png'), fullPage: true });
    await page.click('#save');
    await page.waitForFunction(() => /^Saved in/.test(document.querySelector('#save-status').textContent));

    await page.goto(`${BASE_URL}/#/resumes`);
    const card = page.locator('article.resume', { hasText: '김민지' }).first();
    await card.waitFor();
    assert.match(await card.textContent(), new RegExp(`by ${user}`));
    // This user's card only: a shared deployment lists other people's resumes too.
    await page.waitForFunction(byline => {
      const card = [...document.querySelectorAll('article.resume')].find(a => a.textContent.includes(byline));
      const imgs = card ? [...card.querySelectorAll('.thumbs img')] : [];
      return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
    }, `by ${user}`);
    const sizes = await card.locator('.thumbs img').evaluateAll(imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight]));
    assert.deepEqual(sizes, [[64, 48], [48, 64]]);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'resume-list.png'), fullPage: true });

    // Edit it: rename, remove the first image, add a third; the card is redrawn.
    await card.locator('button.edit').click();
    const editor = card.locator('form.edit-form');
    await editor.waitFor();
    await editor.locator('input[name=name]').fill('김민지 (수정)');
    await editor.locator('input[name=remove_image]').first().check();
    await editor.locator('input[name=image]').setInputFiles([
      { name: 'portfolio-3.jpg', mimeType: 'image/jpeg', buffer: jpeg(40, 30) },
    ]);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'resume-edit.png'), fullPage: true });
    await editor.locator('button[type=submit]').click();
    const edited = page.locator('article.resume', { hasText: '김민지 (수정)' }).first();
    await edited.waitFor();
    await page.waitForFunction(() => {
      const card = [...document.querySelectorAll('article.resume')].find(a => a.textContent.includes('(수정)'));
      const imgs = card ? [...card.querySelectorAll('.thumbs img')] : [];
      return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
    });
    const after = await edited.locator('.thumbs img').evaluateAll(imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight]));
    assert.deepEqual(after, [[48, 64], [40, 30]]);

    await page.goto(`${BASE_URL}/#/new`);
    await page.fill('#resume-form input[name=name]', 'Ten saves');
    await page.fill('#resume-form textarea[name=motivation]', 'One click, ten saves.');
    await page.setInputFiles('#resume-form input[name=image]', [
      { name: 'a.jpg', mimeType: 'image/jpeg', buffer: jpeg(32, 32) },
      { name: 'b.jpg', mimeType: 'image/jpeg', buffer: jpeg(32, 32) },
    ]);
    await page.click('#save-ten');
    await page.waitForFunction(() => /^Saved 10 times in \d+ ms/.test(document.querySelector('#save-status').textContent),
      null, { timeout: 60_000 });
    const timings = await page.textContent('#save-timings');
    assert.equal(timings.split(',').length, 10);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'save-ten.png'), fullPage: true });

    await page.goto(`${BASE_URL}/#/resumes`);
    await page.waitForSelector('article.resume');
    assert.equal(await page.locator('article.resume', { hasText: 'Ten saves' }).count(), 10);
    assert.deepEqual(failures, [], 'no script errors on the page');
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
