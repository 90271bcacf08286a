// A progress bar for the demos.

/** A progress bar on stderr (a line per 10% when stderr is not a terminal). */
export function progress(total, label) {
  let done = 0, lastTenth = -1;
  const t0 = performance.now();
  return {
    tick(n, what) {
      done += n;
      const f = done / total;
      if (process.stderr.isTTY) {
        const w = 30, k = Math.round(f * w);
        process.stderr.write(`\r${label} [${'#'.repeat(k)}${'-'.repeat(w - k)}] ${(100 * f).toFixed(0).padStart(3)}%  ${what}   `);
      } else if (Math.floor(f * 10) > lastTenth) {
        lastTenth = Math.floor(f * 10);
        process.stderr.write(`${label}: ${(100 * f).toFixed(0)}% (${what})\n`);
      }
    },
    end() {
      if (process.stderr.isTTY) process.stderr.write('\n');
      return (performance.now() - t0) / 1000;
    },
  };
}

