// workers.js - node worker_threads check for workload.sh.
// Starts 4 workers, each sums a range and posts the result back; the main
// thread checks the total and prints "node workers=4 sum=<N>".
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

const WORKERS = 4;
const PER = 1000000;

if (!isMainThread) {
  let s = 0;
  for (let i = workerData.start; i < workerData.end; i++) s += i;
  parentPort.postMessage(s);
} else {
  const jobs = [];
  for (let w = 0; w < WORKERS; w++) {
    jobs.push(new Promise((resolve, reject) => {
      const worker = new Worker(__filename, { workerData: { start: w * PER, end: (w + 1) * PER } });
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => { if (code !== 0) reject(new Error(`worker exited ${code}`)); });
    }));
  }
  const timer = setTimeout(() => { console.error('node workers timed out'); process.exit(1); }, 20000);
  Promise.all(jobs).then((sums) => {
    clearTimeout(timer);
    const total = sums.reduce((a, b) => a + b, 0);
    const n = WORKERS * PER;
    const want = n * (n - 1) / 2;
    console.log(`node workers=${WORKERS} sum=${total}`);
    if (total !== want) {
      console.error(`wrong sum: got ${total} want ${want}`);
      process.exit(1);
    }
  }, (err) => {
    console.error(`worker failed: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  });
}
