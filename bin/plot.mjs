// A small SVG line chart (no dependencies): the demo's accuracy-against-angle figure.

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/**
 * @param {{ title: string, xlabel: string, ylabel: string, xticks: number[], ymin?: number, ymax?: number,
 *   series: { name: string, color: string, points: [number, number][], dashed?: boolean, markers?: boolean }[] }} o
 */
export function lineChart(o) {
  const W = 760, H = 420, L = 64, R = 190, T = 48, B = 56;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const y0 = o.ymin ?? 0, y1 = o.ymax ?? 100;
  const px = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const py = (y) => T + (1 - (y - y0) / (y1 - y0 || 1)) * (H - T - B);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - R / 2 + L / 2}" y="24" text-anchor="middle" font-size="15">${esc(o.title)}</text>`];
  for (let y = y0; y <= y1 + 1e-9; y += (y1 - y0) / 5) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e5e5"/>`, `<text x="${L - 8}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(0)}</text>`);
  }
  for (const x of o.xticks) {
    parts.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${T}" y2="${H - B}" stroke="#f0f0f0"/>`, `<text x="${px(x)}" y="${H - B + 18}" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#888"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 14}" text-anchor="middle">${esc(o.xlabel)}</text>`,
    `<text x="18" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(T + H - B) / 2})">${esc(o.ylabel)}</text>`);
  o.series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    if (s.markers !== false) for (const p of s.points) parts.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const ly = T + 10 + i * 22;
    parts.push(`<line x1="${W - R + 14}" x2="${W - R + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`, `<text x="${W - R + 46}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

/**
 * A grouped bar chart: one group per category, one bar per series.
 * @param {{ title: string, ylabel: string, categories: string[], ymin?: number, ymax?: number,
 *   series: { name: string, color: string, values: number[] }[] }} o
 */
export function barChart(o) {
  const W = 860, H = 420, L = 64, R = 230, T = 48, B = 78;
  const y0 = o.ymin ?? 0, y1 = o.ymax ?? 100;
  const py = (y) => T + (1 - (y - y0) / (y1 - y0 || 1)) * (H - T - B);
  const gw = (W - L - R) / o.categories.length, bw = (gw * 0.8) / o.series.length;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - R / 2 + L / 2}" y="24" text-anchor="middle" font-size="15">${esc(o.title)}</text>`];
  for (let y = y0; y <= y1 + 1e-9; y += (y1 - y0) / 5) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e5e5"/>`, `<text x="${L - 8}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(0)}</text>`);
  }
  o.categories.forEach((c, i) => {
    const cx = L + gw * (i + 0.5);
    parts.push(`<text x="${cx}" y="${H - B + 16}" text-anchor="end" transform="rotate(-30 ${cx} ${H - B + 16})">${esc(c)}</text>`);
    o.series.forEach((s, k) => {
      const x = L + gw * i + gw * 0.1 + k * bw, v = s.values[i];
      parts.push(`<rect x="${x.toFixed(1)}" y="${py(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(py(y0) - py(v)).toFixed(1)}" fill="${s.color}"><title>${esc(`${s.name}, ${c}: ${v.toFixed(1)}`)}</title></rect>`);
    });
  });
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#888"/>`,
    `<text x="18" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(T + H - B) / 2})">${esc(o.ylabel)}</text>`);
  o.series.forEach((s, i) => {
    const ly = T + 10 + i * 22;
    parts.push(`<rect x="${W - R + 14}" y="${ly - 6}" width="22" height="12" fill="${s.color}"/>`, `<text x="${W - R + 42}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}
