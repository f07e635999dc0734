// A log-log chart as a standalone SVG file, for docs/: a few point series and straight model lines, axes with
// decade ticks, a legend. No dependency: the benchmark that measures the figures draws them.

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number; note?: string }[];
  /** Draw a line through the points (a model) instead of dots (measurements). */
  line?: boolean;
  dashed?: boolean;
}

export interface Chart {
  title: string;
  subtitle: string;
  xLabel: string;
  yLabel: string;
  x: [min: number, max: number];
  y: [min: number, max: number];
  series: Series[];
  /** A horizontal rule, labelled (the one-core line). */
  rule?: { y: number; label: string };
}

const width = 880;
const height = 620;
const margin = { left: 80, right: 30, top: 70, bottom: 210 };

export function logLogSvg(chart: Chart): string {
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const sx = (x: number) => margin.left + (Math.log10(x / chart.x[0]) / Math.log10(chart.x[1] / chart.x[0])) * plotW;
  const sy = (y: number) => margin.top + plotH - (Math.log10(y / chart.y[0]) / Math.log10(chart.y[1] / chart.y[0])) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left}" y="28" font-size="17" font-weight="600">${escape(chart.title)}</text>`,
    `<text x="${margin.left}" y="50" fill="#555" font-size="12">${escape(chart.subtitle)}</text>`,
  ];
  for (const [axis, [min, max]] of [['x', chart.x], ['y', chart.y]] as const) {
    for (let decade = Math.ceil(Math.log10(min)); decade <= Math.floor(Math.log10(max)); decade++) {
      const value = 10 ** decade;
      if (axis === 'x') {
        out.push(`<line x1="${sx(value)}" y1="${margin.top}" x2="${sx(value)}" y2="${margin.top + plotH}" stroke="#e3e3e3"/>`);
        out.push(`<text x="${sx(value)}" y="${margin.top + plotH + 18}" text-anchor="middle">${tick(value)}</text>`);
      } else {
        out.push(`<line x1="${margin.left}" y1="${sy(value)}" x2="${margin.left + plotW}" y2="${sy(value)}" stroke="#e3e3e3"/>`);
        out.push(`<text x="${margin.left - 8}" y="${sy(value) + 4}" text-anchor="end">${tick(value)}</text>`);
      }
    }
  }
  out.push(`<clipPath id="plot"><rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}"/></clipPath>`);
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 40}" text-anchor="middle">${escape(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(22 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(chart.yLabel)}</text>`);
  if (chart.rule) {
    const y = sy(chart.rule.y);
    out.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#c00" stroke-width="1.5"/>`);
    out.push(`<text x="${margin.left + 6}" y="${y - 6}" fill="#c00">${escape(chart.rule.label)}</text>`);
  }
  for (const series of chart.series) {
    // A zero has no place on a log scale: dropped rather than drawn at infinity.
    const points = series.points.filter((p) => p.x > 0 && p.y > 0);
    if (series.line) {
      const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
      out.push(`<path d="${path}" clip-path="url(#plot)" fill="none" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    } else {
      for (const p of points) out.push(`<circle clip-path="url(#plot)" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="4.5" fill="${series.color}"/>`);
    }
    for (const p of points) {
      if (p.note !== undefined) out.push(`<text x="${(sx(p.x) + 7).toFixed(1)}" y="${(sy(p.y) - 7).toFixed(1)}" fill="${series.color}" font-size="12">${escape(p.note)}</text>`);
    }
  }
  // The legend, one line each under the chart: the labels are long.
  for (const [i, series] of chart.series.entries()) {
    const x = margin.left;
    const y = margin.top + plotH + 66 + i * 20;
    out.push(
      series.line
        ? `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`
        : `<circle cx="${x + 11}" cy="${y - 4}" r="4.5" fill="${series.color}"/>`,
    );
    out.push(`<text x="${x + 30}" y="${y}">${escape(series.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function tick(value: number): string {
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(value);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
