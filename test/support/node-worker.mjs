import { parentPort, workerData } from 'node:worker_threads';
import * as eq from '../../dist/index.js';
import { smoke } from './smoke.js';

parentPort.postMessage(await smoke(eq, workerData.module ? { wasm: workerData.module } : undefined));
