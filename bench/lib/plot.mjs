// A dependency-free SVG line chart: time against the number of deleted subvolumes, one line per variant.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function escapeXml(text) {
  return String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
}

/** Picks about `count` round tick values covering 0..max. */
function ticks(max, count = 5) {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) out.push(Number(t.toPrecision(6)));
  if (out[out.length - 1] < max) out.push(Number((out[out.length - 1] + step).toPrecision(6)));
  return out;
}

/** 1-2-5 ticks spanning [min, max] for a logarithmic axis. */
function logTicks(min, max) {
  const out = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** e;
      if (t >= min / 1.0001 && t <= max * 1.0001) out.push(t);
    }
  }
  return out;
}

/**
 * Renders series [{ name, points: [[x, y], …] }] as an SVG document string.
 * Options: title, xLabel, yLabel, width, height, logY (logarithmic y axis, for series far apart).
 */
export function renderLineChart(series, { title, xLabel, yLabel, width = 720, height = 440, logY = false } = {}) {
  const m = { left: 70, right: 210, top: 40, bottom: 55 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xTicks = ticks(Math.max(...xs, 1));
  const xMax = xTicks[xTicks.length - 1];
  const yLo = logY ? 10 ** Math.floor(Math.log10(Math.max(Math.min(...ys), 1e-9))) : 0;
  const yTicks = logY ? logTicks(yLo, 10 ** Math.ceil(Math.log10(Math.max(...ys)))) : ticks(Math.max(...ys, 1));
  const yMax = logY ? 10 ** Math.ceil(Math.log10(Math.max(...ys))) : yTicks[yTicks.length - 1];
  const px = (x) => m.left + (x / xMax) * w;
  const py = logY
    ? (y) => m.top + h - ((Math.log10(y) - Math.log10(yLo)) / (Math.log10(yMax) - Math.log10(yLo))) * h
    : (y) => m.top + h - (y / yMax) * h;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${m.left + w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title ?? '')}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${m.left}" y1="${py(t)}" x2="${m.left + w}" y2="${py(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${px(t)}" y1="${m.top + h}" x2="${px(t)}" y2="${m.top + h + 5}" stroke="#333"/>`);
    out.push(`<text x="${px(t)}" y="${m.top + h + 18}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<line x1="${m.left}" y1="${m.top + h}" x2="${m.left + w}" y2="${m.top + h}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + h}" stroke="#333"/>`);
  out.push(`<text x="${m.left + w / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(xLabel ?? '')}</text>`);
  out.push(`<text transform="translate(18 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel ?? '')}</text>`);
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${p[0]} → ${p[1]} ms`)}</title></circle>`);
    const ly = m.top + 10 + i * 20;
    out.push(`<line x1="${m.left + w + 15}" y1="${ly}" x2="${m.left + w + 40}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${m.left + w + 46}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
