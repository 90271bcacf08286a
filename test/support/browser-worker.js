import * as eq from '/dist/index.js';
import { smoke } from '/test/support/smoke.js';

self.onmessage = async (e) => {
  try {
    self.postMessage(await smoke(eq, e.data.module ? { wasm: e.data.module } : undefined));
  } catch (err) {
    self.postMessage({ error: String(err && err.stack || err) });
  }
};
