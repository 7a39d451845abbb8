/** One point of a training curve. */
export interface CurvePoint {
  x: number;
  y: number;
}

export interface CurveSeries {
  name: string;
  color: string;
  points: CurvePoint[];
}

interface Panel {
  title: string;
  series: CurveSeries[];
  yMin?: number;
  yMax?: number;
}

const WIDTH = 720;
const PANEL_HEIGHT = 240;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 32 };

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function renderPanel(panel: Panel, top: number, xMin: number, xMax: number): string {
  const all = panel.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  const yMin = panel.yMin ?? Math.min(...all.map((p) => p.y), 0);
  let yMax = panel.yMax ?? Math.max(...all.map((p) => p.y), 1e-9);
  if (!(yMax > yMin)) yMax = yMin + 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + (xMax > xMin ? ((x - xMin) / (xMax - xMin)) * plotW : plotW / 2);
  const sy = (y: number) => top + MARGIN.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const parts: string[] = [];
  parts.push(
    `<text x="${MARGIN.left}" y="${top + 18}" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  parts.push(
    `<rect x="${MARGIN.left}" y="${top + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  for (const t of niceTicks(yMin, yMax, 4)) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${y}" font-size="10" text-anchor="end" dy="3">${t}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, 6)) {
    const x = sx(t).toFixed(1);
    parts.push(
      `<text x="${x}" y="${top + MARGIN.top + plotH + 14}" font-size="10" text-anchor="middle">${t}</text>`,
    );
  }
  let legendX = MARGIN.left + plotW;
  for (const s of [...panel.series].reverse()) {
    const pts = s.points.filter((p) => Number.isFinite(p.y));
    if (pts.length > 0) {
      const d = pts
        .map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
        .join('');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
      if (pts.length === 1) {
        parts.push(`<circle cx="${sx(pts[0].x)}" cy="${sy(pts[0].y)}" r="2.5" fill="${s.color}"/>`);
      }
    }
    legendX -= 8 + 7 * s.name.length;
    parts.push(
      `<text x="${legendX}" y="${top + 18}" font-size="11" fill="${s.color}">${escapeXml(s.name)}</text>`,
    );
  }
  return parts.join('\n');
}

/**
 * Training curves as a dependency-free SVG: one panel with the loss (and its parts), one with validation Dice.
 * A run folder stays readable in a browser or a repository viewer without TensorBoard.
 */
export function renderCurvesSvg(panels: Panel[], xLabel = 'iteration'): string {
  const points = panels.flatMap((p) => p.series.flatMap((s) => s.points));
  const xMin = points.length ? Math.min(...points.map((p) => p.x)) : 0;
  const xMax = points.length ? Math.max(...points.map((p) => p.x)) : 1;
  const height = panels.length * PANEL_HEIGHT + 20;
  const body = panels.map((panel, i) => renderPanel(panel, i * PANEL_HEIGHT, xMin, xMax)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${body}
<text x="${WIDTH / 2}" y="${height - 4}" font-size="11" text-anchor="middle">${escapeXml(xLabel)}</text>
</svg>
`;
}
