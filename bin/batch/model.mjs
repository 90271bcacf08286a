// The model of a batch: its files read once (and named by their SHA-256, which is how the queue
// stores them), loaded once on this thread and run on the input's first item, so a model that
// does not load or an input whose items do not fit it is refused before any work starts.
import { readFileSync } from 'node:fs';
import * as eq from '../../dist/index.js';
import { ItemShapeError, UsageError } from './errors.mjs';

import { fmt, sha256 } from './util.mjs';

/** `{ config, weights }` bytes and their digests. */
export function readModelFiles(configPath, weightsPath) {
  const read = (path, opt) => {
    try {
      return new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new UsageError(`${opt} ${path}: cannot read it (${e.code === 'ENOENT' ? 'no such file' : e.message})`);
    }
  };
  const config = read(configPath, '--config'), weights = read(weightsPath, '--weights');
  return { config, weights, configSha: sha256(config), weightsSha: sha256(weights) };
}

/** The item shape a model takes (`H`, `W` where its config leaves the size open). */
export function expectedItem(model) {
  const s = model.config.input, g = model.group;
  const hw = s.size ?? ['H', 'W'];
  // The input type's width: a steerable model's config gives field types, a rep field its rep.
  const c = model.inType.channels;
  switch (s.field) {
    case 'image':
    case 'r2': return [c, ...hw];
    case 'grid': return [c, g.pointOrder, ...hw];
    case 'regular': return [c, g.order];
    default: return [c];
  }
}

/**
 * Loads the model and runs it on item 0 of `input`. Returns `{ name, itemShape, outItemShape }`:
 * `itemShape` is the input's, with a channel axis of 1 put in front when the model takes one
 * channel and the items have none (IDX images [N, 28, 28] for a model of [N, 1, 28, 28]; the same
 * bytes). Throws the loader's typed errors (ConfigError, WeightsError) and ItemShapeError.
 */
export async function probeModel(files, input) {
  await eq.init();
  const model = await eq.loadModel({ config: files.config, weights: files.weights });
  try {
    const want = expectedItem(model);
    const fits = (shape) => shape.length === want.length && shape.every((d, i) => typeof want[i] !== 'number' || want[i] === d);
    const itemShape = !fits(input.itemShape) && want[0] === 1 && fits([1, ...input.itemShape]) ? [1, ...input.itemShape] : input.itemShape;
    const x = eq.tensor(input.read(0, 1), [1, ...itemShape]);
    let y;
    try {
      y = model.run(x);
    } catch (e) {
      if (!(e instanceof eq.ShapeError)) throw e;
      throw new ItemShapeError(`input ${input.path}: its items are ${fmt(input.itemShape)} (the array is ${fmt(input.shape)}), ` +
        `but the model '${model.name}' takes items ${fmt(expectedItem(model))} (${model.inType.describe()}); the model said: ${e.message}`);
    } finally {
      x.dispose();
    }
    const outItemShape = y.shape.slice(1);
    y.dispose();
    return { name: model.name, itemShape, outItemShape };
  } finally {
    model.dispose();
  }
}
