// A pool worker whose `load` never answers (a worker stuck in a load, as a huge model would be).
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';

const api = {
  async init() {},
  load() {
    return new Promise(() => {});
  },
  run() {
    return new Promise(() => {});
  },
};
Comlink.expose(api, nodeEndpoint(parentPort));
