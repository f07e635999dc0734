// The timeline `npm run bench:latency` draws (docs/latency.svg): request latency over the measured window, one line
// per variant (the slowest request of each 20 ms slot, so no stall is averaged away), on a log scale, with the
// snapshot writes (bands) and sweeps (dashed lines) of the hosted variants marked. A standalone SVG, in the style of
// svg-plot.ts, whose log-log chart does not fit a time axis.
import type { RunSummary } from './latency-report.js';

const width = 960;
const plotH = 340;
const margin = { left: 80, right: 30, top: 70 };
const colors: Record<string, string> = { memory: '#2a7', cluster: '#c33', baseline: '#36c', redis: '#a6a' };

export function latencySvg(runs: RunSummary[], labels: Map<string, string>, title: string, subtitle: string): string {
  const plotW = width - margin.left - margin.right;
  // Room under the chart for the axis title and one legend line per run, plus the markers' line.
  const height = margin.top + plotH + 66 + (runs.length + 1) * 20;
  const durationMs = Math.max(1000, ...runs.flatMap((r) => r.timeline.map(([at]) => at)));
  const highest = Math.max(10, ...runs.flatMap((r) => r.timeline.map(([, ms]) => ms)));
  const [yMin, yMax] = [0.1, 10 ** Math.ceil(Math.log10(highest))];
  const sx = (ms: number) => margin.left + (Math.min(Math.max(ms, 0), durationMs) / durationMs) * plotW;
  const sy = (ms: number) => margin.top + plotH - (Math.log10(Math.max(ms, yMin) / yMin) / Math.log10(yMax / yMin)) * plotH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left}" y="28" font-size="17" font-weight="600">${escape(title)}</text>`,
    `<text x="${margin.left}" y="50" fill="#555" font-size="12">${escape(subtitle)}</text>`,
  ];
  for (let decade = Math.log10(yMin); decade <= Math.log10(yMax); decade++) {
    const value = 10 ** decade;
    out.push(`<line x1="${margin.left}" y1="${sy(value)}" x2="${margin.left + plotW}" y2="${sy(value)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${margin.left - 8}" y="${sy(value) + 4}" text-anchor="end">${value >= 1000 ? `${value / 1000} s` : `${value} ms`}</text>`);
  }
  const stepS = durationMs > 40_000 ? 10 : 5;
  for (let s = 0; s * 1000 <= durationMs; s += stepS) {
    out.push(`<line x1="${sx(s * 1000)}" y1="${margin.top}" x2="${sx(s * 1000)}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${sx(s * 1000)}" y="${margin.top + plotH + 18}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 40}" text-anchor="middle">seconds into the measured window (request's scheduled time)</text>`);
  out.push(`<text transform="translate(22 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency from scheduled time (log)</text>`);
  for (const run of runs) {
    const color = colors[run.variant] ?? '#555';
    const at = (epoch: number) => epoch - run.windowStartAt;
    for (const snap of run.primary.snapshots) {
      const from = sx(at(snap.startAt ?? snap.endAt));
      out.push(`<rect x="${from.toFixed(1)}" y="${margin.top}" width="${Math.max(1, sx(at(snap.endAt)) - from).toFixed(1)}" height="${plotH}" fill="${color}" opacity="0.08"/>`);
    }
    for (const sweep of run.primary.sweeps.filter((s) => s.removed > 0 || s.durationMs >= 50)) {
      const x = sx(at(sweep.startAt)).toFixed(1);
      out.push(`<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotH}" stroke="${color}" stroke-dasharray="4 3" opacity="0.7"/>`);
    }
    const path = run.timeline.map(([ms, latency], i) => `${i === 0 ? 'M' : 'L'}${sx(ms).toFixed(1)},${sy(latency).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.2" opacity="0.85"/>`);
  }
  const legend = [
    ...runs.map((r) => ({ color: colors[r.variant] ?? '#555', text: `${labels.get(r.variant) ?? r.variant} (round ${r.round}): max ${r.latencyMs.max.toFixed(0)} ms, p99.9 ${r.latencyMs.p999.toFixed(0)} ms` })),
    { color: '#999', text: 'band: a snapshot write (its first table walk → snapshot-saved); dashed: a sweep that removed sessions or took ≥ 50 ms' },
  ];
  for (const [i, item] of legend.entries()) {
    const y = margin.top + plotH + 66 + i * 20;
    out.push(`<line x1="${margin.left}" y1="${y - 4}" x2="${margin.left + 22}" y2="${y - 4}" stroke="${item.color}" stroke-width="2"/>`);
    out.push(`<text x="${margin.left + 30}" y="${y}">${escape(item.text)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
