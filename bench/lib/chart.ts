// A dependency-free SVG line chart: stacked panels sharing a time axis, with shaded phases.

export interface Series {
  name: string;
  color: string;
  /** [seconds since the start, value]; NaN values break the line. */
  points: Array<[number, number]>;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  unit: string;
  log?: boolean;
  series: Series[];
  /** Horizontal reference lines (e.g. the 1 s objective). */
  marks?: Array<{ value: number; label: string }>;
}

export interface Phase {
  label: string;
  start: number;
  end: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  if (v >= 1) return String(+v.toFixed(1));
  return String(+v.toPrecision(2));
}

export function renderChart(opts: { title: string; subtitle: string; phases: Phase[]; panels: Panel[]; width?: number; panelHeight?: number }): string {
  const W = opts.width ?? 1400;
  const PH = opts.panelHeight ?? 260;
  const left = 70;
  const right = 250;
  const top = 80;
  const gap = 64;
  const H = top + opts.panels.length * (PH + gap) + 30;
  const plotW = W - left - right;
  const tMax = Math.max(1, ...opts.phases.map((p) => p.end), ...opts.panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([t]) => t))));
  const x = (t: number) => left + (t / tMax) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="24" font-size="18" font-weight="bold">${esc(opts.title)}</text>`);
  out.push(`<text x="${left}" y="44" fill="#555">${esc(opts.subtitle)}</text>`);

  opts.panels.forEach((panel, i) => {
    const y0 = top + i * (PH + gap) + 20;
    const values = panel.series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => Number.isFinite(v) && v > 0);
    const vMaxRaw = Math.max(...values, ...(panel.marks ?? []).map((m) => m.value), 1);
    let y: (v: number) => number;
    let ticks: number[];
    if (panel.log) {
      const lo = Math.max(1, 10 ** Math.floor(Math.log10(Math.min(...values, 10))));
      const hi = 10 ** Math.ceil(Math.log10(vMaxRaw));
      y = (v) => y0 + PH - ((Math.log10(Math.max(lo, v)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PH;
      ticks = [];
      for (let d = lo; d <= hi; d *= 10) ticks.push(d);
    } else {
      const hi = niceMax(vMaxRaw * 1.05);
      y = (v) => y0 + PH - (v / hi) * PH;
      ticks = Array.from({ length: 6 }, (_, k) => (hi * k) / 5);
    }
    // Phases as shaded bands, labelled in the first panel.
    opts.phases.forEach((ph, k) => {
      out.push(
        `<rect x="${x(ph.start).toFixed(1)}" y="${y0}" width="${Math.max(0.5, x(ph.end) - x(ph.start)).toFixed(1)}" height="${PH}" fill="${k % 2 ? '#f3f6fb' : '#e8eef8'}"/>`,
      );
      if (i === 0) {
        // Alternate heights so that labels of short neighbouring phases do not overlap.
        out.push(
          `<text x="${((x(ph.start) + x(ph.end)) / 2).toFixed(1)}" y="${y0 - 4 - (k % 2) * 11}" text-anchor="middle" font-size="10" fill="#333">${esc(ph.label)}</text>`,
        );
      }
    });
    out.push(`<text x="${left + plotW + 12}" y="${y0 - 6}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    for (const t of ticks) {
      out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ccc" stroke-width="0.5"/>`);
      out.push(`<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
    }
    out.push(`<text transform="translate(16 ${y0 + PH / 2}) rotate(-90)" text-anchor="middle">${esc(panel.unit)}</text>`);
    for (const m of panel.marks ?? []) {
      out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(m.value).toFixed(1)}" y2="${y(m.value).toFixed(1)}" stroke="#c00" stroke-dasharray="6 4"/>`);
      out.push(`<text x="${left + plotW - 4}" y="${(y(m.value) - 4).toFixed(1)}" text-anchor="end" fill="#c00">${esc(m.label)}</text>`);
    }
    panel.series.forEach((s, k) => {
      let d = '';
      let pen = false;
      for (const [t, v] of s.points) {
        if (!Number.isFinite(v) || (panel.log && v <= 0)) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)} ${y(v).toFixed(1)} `;
        pen = true;
      }
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
      const ly = y0 + 14 + k * 18;
      out.push(
        `<line x1="${left + plotW + 12}" x2="${left + plotW + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      );
      out.push(`<text x="${left + plotW + 42}" y="${ly}">${esc(s.name)}</text>`);
    });
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${PH}" fill="none" stroke="#888"/>`);
    // Time axis.
    const step = niceMax(tMax / 12);
    for (let t = 0; t <= tMax; t += step) {
      out.push(`<text x="${x(t).toFixed(1)}" y="${y0 + PH + 14}" text-anchor="middle" fill="#555">${fmt(t)}s</text>`);
    }
  });
  out.push('</svg>');
  return out.join('\n');
}
