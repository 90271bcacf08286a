// The progress of a batch on stderr: on a terminal, one bar redrawn in place with items/s and the
// time left; elsewhere (a log, a pipe, CI), a plain line at every tenth of the work and at least
// every `every` seconds while something is pending, so a log shows a stalled job too.

export function formatDuration(s) {
  if (!Number.isFinite(s)) return '?';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

const num = (n) => n.toLocaleString('en-US');

/**
 * `total` items of which `done` were finished before this run. `begin()` restarts the clock
 * (once the workers are ready, so start-up does not count in items/s); `tick(n)` counts n more;
 * `note(text)` prints a line without garbling the bar; `status(text)` sets what is said while
 * waiting (e.g. "waiting for workers"); `end()` finishes the bar and returns this run's seconds.
 */
export function progressBar({ total, done = 0, label = 'batch', stream = process.stderr, every = 10 } = {}) {
  const tty = Boolean(stream.isTTY);
  let t0 = performance.now();
  const resumed = done;
  let lastTenth = Math.floor((10 * done) / total), lastLine = t0, lastDraw = 0, state = '', timer;
  const line = () => {
    const secs = (performance.now() - t0) / 1000;
    const rate = (done - resumed) / secs;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const pct = total ? (100 * done) / total : 100;
    const stats = `${num(done)}/${num(total)} items  ${rate > 0 ? num(Math.round(rate)) : '-'} items/s  ETA ${done >= total ? '0s' : formatDuration(eta)}${state ? `  (${state})` : ''}`;
    if (!tty) return `${label}: ${pct.toFixed(0).padStart(3)}%  ${stats}`;
    const w = 30, k = Math.round((pct / 100) * w);
    return `${label} [${'#'.repeat(k)}${'-'.repeat(w - k)}] ${pct.toFixed(0).padStart(3)}%  ${stats}`;
  };
  const draw = (force = false) => {
    const now = performance.now();
    if (tty) {
      if (force || now - lastDraw > 100) {
        stream.write(`\r${line()}\x1b[K`);
        lastDraw = now;
      }
      return;
    }
    const tenth = Math.floor((10 * done) / total);
    if (force || tenth > lastTenth || now - lastLine >= every * 1000) {
      stream.write(`${line()}\n`);
      lastTenth = tenth;
      lastLine = now;
    }
  };
  timer = setInterval(() => draw(), 1000);
  timer.unref();
  draw(true);
  return {
    begin() {
      if (done === resumed) t0 = performance.now();
    },
    tick(n) {
      done += n;
      draw(done >= total);
    },
    status(text) {
      if (text === state) return;
      state = text;
      if (tty) draw(true);
    },
    note(text) {
      stream.write(tty ? `\r\x1b[K${text}\n` : `${text}\n`);
      if (tty) draw(true);
    },
    end() {
      clearInterval(timer);
      if (tty) stream.write('\n');
      return (performance.now() - t0) / 1000;
    },
    get done() {
      return done;
    },
  };
}
