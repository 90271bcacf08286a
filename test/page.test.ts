// The browser page: renders, shows predictions, keeps the P4CNN's prediction under a 90-degree
// rotation, and runs the benchmark in the browser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, openAndWait } from './support/chromium.js';

let env: Awaited<ReturnType<typeof launch>>;

beforeAll(async () => {
  env = await launch();
});
afterAll(() => env?.close());

describe('the demo page', () => {
  it('renders, predicts, is invariant at right angles, and benchmarks in the browser', async () => {
    const { page, errors } = await openAndWait(env.browser, `${env.url}/page/`, 'ready');
    expect(await page.evaluate(() => (window as any).startError)).toBeUndefined();
    const classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
    const first = await page.evaluate(() => (window as any).lastPrediction);
    expect(classes.some((c) => first.p4.startsWith(c))).toBe(true);
    expect(await page.textContent('#pred-p4')).toBe(first.p4);
    // Canvases drawn (not blank): the rotated input and the 16 feature maps.
    const ink = await page.evaluate(() => Array.from(document.querySelectorAll('#rotated, #fmaps canvas')).map((c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
      let s = 0;
      for (let i = 0; i < d.length; i += 4) s += d[i];
      return s;
    }));
    expect(ink).toHaveLength(17);
    expect(ink.filter((s) => s > 0).length).toBeGreaterThan(12);
    const shot = await page.screenshot();
    expect(shot.length).toBeGreaterThan(30_000); // a blank page compresses to a few KB
    for (const angle of [90, 180, 270]) {
      await page.click('#snap');
      const p = await page.evaluate(() => (window as any).lastPrediction);
      expect(p.angle).toBe(angle);
      expect(p.p4).toBe(first.p4);
    }
    // The menu: each steerable model keeps its prediction at right angles too.
    for (const model of ['c8', 'c16', 'd8']) {
      await page.selectOption('#model', model);
      const start = await page.evaluate(() => (window as any).lastPrediction);
      expect(start.model).toBe(model);
      expect(await page.textContent('#model-title')).toContain(model.toUpperCase());
      // One row of maps per first-layer field (up to four): C8 has 4, C16 and D8 have 2.
      const shown = await page.$$eval('#fmaps canvas', (cs) => cs.filter((c) => !(c as HTMLCanvasElement).hidden).length);
      expect(shown, model).toBe(model === 'c8' ? 16 : 8);
      for (let turn = 1; turn <= 3; turn++) {
        await page.click('#snap');
        const p = await page.evaluate(() => (window as any).lastPrediction);
        expect(p.p4, `${model} after ${turn} quarter turns`).toBe(start.p4);
      }
      await page.click('#snap');
    }
    await page.selectOption('#model', 'p4');
    await page.click('#run-bench');
    await page.waitForFunction(() => (window as any).benchResults || (window as any).benchError, null, { timeout: 120_000 });
    expect(await page.evaluate(() => (window as any).benchError)).toBeUndefined();
    const rows = await page.evaluate(() => (window as any).benchResults);
    expect(rows.map((r: string[]) => r[0])).toEqual(['PEAK (SIMD128 mul+add)', 'L1', 'L2', 'P4CNN (batch 64)']);
    for (const r of rows) expect(Number(r[2])).toBeGreaterThan(0);
    expect(await page.$$eval('#bench-table tr', (trs) => trs.length)).toBe(5);
    expect(errors).toEqual([]);
  }, 180_000);

  it('Tetris panel: a 3D shape rotated by dragging, three models\' predictions, the A1 benchmark', async () => {
    const { page, errors } = await openAndWait(env.browser, `${env.url}/page/`, 'tetrisReady');
    expect(await page.evaluate(() => (window as any).tetrisError)).toBeUndefined();
    const labels = ['chiral_shape_1', 'chiral_shape_2', 'square', 'line', 'corner', 'L', 'T', 'zigzag'];
    const first = await page.evaluate(() => (window as any).lastTetris);
    expect(first.shape).toBe('chiral_shape_1');
    for (const k of ['lietransformer', 'lieconv', 'plain']) expect(labels).toContain(first.predictions[k]);
    // In the training pose every model is right.
    expect(first.predictions).toEqual({ lietransformer: 'chiral_shape_1', lieconv: 'chiral_shape_1', plain: 'chiral_shape_1' });
    expect(await page.$$eval('#tetris-preds tr', (trs) => trs.length)).toBe(4);
    const ink = () => page.evaluate(() => {
      const c = document.getElementById('tetris-view') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let s = 0;
      for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? 1 : 0;
      return s;
    });
    expect(await ink()).toBeGreaterThan(2000);
    // Drag to rotate: the pose changes and the predictions are recomputed.
    await page.$eval('#tetris-view', (el) => el.scrollIntoView());
    const box = await (await page.$('#tetris-view'))!.boundingBox();
    await page.mouse.move(box!.x + 160, box!.y + 160);
    await page.mouse.down();
    await page.mouse.move(box!.x + 230, box!.y + 120, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction((r0) => JSON.stringify((window as any).lastTetris.R) !== JSON.stringify(r0), first.R);
    const moved = await page.evaluate(() => (window as any).lastTetris);
    expect(moved.R).not.toEqual(first.R);
    const R = moved.R as number[];
    for (let i = 0; i < 3; i++) expect(Math.hypot(R[3 * i], R[3 * i + 1], R[3 * i + 2])).toBeCloseTo(1, 6);
    await page.selectOption('#tetris-shape', '3');
    await page.waitForFunction(() => (window as any).lastTetris.shape === 'line');
    await page.click('#run-a1');
    await page.waitForFunction(() => (window as any).a1Results || (window as any).a1Error, null, { timeout: 120_000 });
    expect(await page.evaluate(() => (window as any).a1Error)).toBeUndefined();
    const rows = await page.evaluate(() => (window as any).a1Results);
    expect(rows.map((r: string[]) => r[0])).toEqual(['A1-local (k = 32)', 'A1-global']);
    for (const r of rows) expect(Number(r[1])).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  }, 180_000);
});
