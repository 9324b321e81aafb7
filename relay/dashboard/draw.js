// Canvas drawing for the dashboard: the track map with every car, and the lap trace.
// Pure drawing: everything comes in as arguments; nothing here talks to the network.

export const CLASS_COLOURS = ["#4db3ff", "#ff7a45", "#b07cff", "#3ecf6a", "#ff5fa2", "#e6d34a", "#45d6c8", "#ff4d4d"];
const TEAM_COLOUR = "#ffb000";

// Size the backing store to the element's CSS size at the device pixel ratio.
export function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const rect = canvas.getBoundingClientRect();
  const width = Math.max(1, Math.round(rect.width * dpr));
  const height = Math.max(1, Math.round(rect.height * dpr));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height, dpr };
}

// The outline point at lap fraction `frac` (points at i/N, closed).
function at(points, frac) {
  const n = points.length;
  const f = (((frac % 1) + 1) % 1) * n;
  const i = Math.floor(f) % n;
  const j = (i + 1) % n;
  const t = f - Math.floor(f);
  return [points[i][0] + (points[j][0] - points[i][0]) * t, points[i][1] + (points[j][1] - points[i][1]) * t];
}

function lossColour(loss) {
  const k = Math.min(1, Math.abs(loss) / 0.4);
  return loss > 0 ? `rgba(255, 77, 77, ${0.25 + 0.75 * k})` : `rgba(62, 207, 106, ${0.25 + 0.75 * k})`;
}

// Draw the map. `cars`: [{carIdx, frac, classIndex, team, inPit}]; `losses`: time lost per equal
// segment of the lap (s) or null. Returns the dots drawn, in backing-store pixels.
export function drawMap(canvas, points, cars, losses) {
  const { ctx, width, height, dpr } = fitCanvas(canvas);
  if (!points || points.length < 3) return [];
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const [x, y] of points) {
    minX = Math.min(minX, x); maxX = Math.max(maxX, x);
    minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  const pad = 14 * dpr;
  const scale = Math.min((width - 2 * pad) / Math.max(maxX - minX, 1), (height - 2 * pad) / Math.max(maxY - minY, 1));
  const ox = (width - (maxX - minX) * scale) / 2;
  const oy = (height - (maxY - minY) * scale) / 2;
  const px = ([x, y]) => [ox + (x - minX) * scale, height - (oy + (y - minY) * scale)];

  ctx.lineJoin = "round";
  ctx.lineCap = "round";
  ctx.strokeStyle = "#3a4450";
  ctx.lineWidth = 7 * dpr;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(...px(p)) : ctx.moveTo(...px(p))));
  ctx.closePath();
  ctx.stroke();

  if (losses && losses.length) {
    ctx.lineWidth = 4 * dpr;
    const n = points.length;
    losses.forEach((loss, s) => {
      if (loss === null || !Number.isFinite(loss)) return;
      const from = Math.floor((s * n) / losses.length);
      const to = Math.floor(((s + 1) * n) / losses.length);
      ctx.strokeStyle = lossColour(loss);
      ctx.beginPath();
      for (let i = from; i <= to; i++) {
        const p = px(points[i % n]);
        i === from ? ctx.moveTo(...p) : ctx.lineTo(...p);
      }
      ctx.stroke();
    });
  }

  // Start/finish line.
  const [sx, sy] = px(points[0]);
  const [nx, ny] = px(points[1]);
  const len = Math.hypot(nx - sx, ny - sy) || 1;
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 2 * dpr;
  ctx.beginPath();
  ctx.moveTo(sx - ((ny - sy) / len) * 9 * dpr, sy + ((nx - sx) / len) * 9 * dpr);
  ctx.lineTo(sx + ((ny - sy) / len) * 9 * dpr, sy - ((nx - sx) / len) * 9 * dpr);
  ctx.stroke();

  const drawn = [];
  const ordered = [...cars].sort((a, b) => Number(a.team) - Number(b.team)); // the team car on top
  for (const car of ordered) {
    if (!Number.isFinite(car.frac) || car.frac < 0) continue;
    const [x, y] = px(at(points, car.frac));
    const colour = CLASS_COLOURS[car.classIndex % CLASS_COLOURS.length];
    const radius = (car.team ? 7 : 4.5) * dpr;
    ctx.globalAlpha = car.inPit ? 0.5 : 1;
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.fill();
    if (car.team) {
      ctx.strokeStyle = TEAM_COLOUR;
      ctx.lineWidth = 2.5 * dpr;
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    drawn.push({ carIdx: car.carIdx, x: Math.round(x), y: Math.round(y), colour, team: Boolean(car.team) });
  }
  return drawn;
}

// Draw the lap trace: speed of this lap against the best lap, and this lap's pedals, along the lap.
// `lap` and `best`: {frac: [], speed_mps: [], throttle: [], brake: []} (best may be null).
export function drawTrace(canvas, lap, best) {
  const { ctx, width, height, dpr } = fitCanvas(canvas);
  const top = height * 0.62;
  const maxSpeed = Math.max(
    10,
    ...(best ? best.speed_mps.filter(Number.isFinite) : []),
    ...lap.speed_mps.filter(Number.isFinite),
  ) * 1.05;
  ctx.strokeStyle = "#20262e";
  ctx.lineWidth = 1;
  for (let q = 1; q < 4; q++) {
    ctx.beginPath();
    ctx.moveTo((q * width) / 4, 0);
    ctx.lineTo((q * width) / 4, height);
    ctx.stroke();
  }
  const line = (fracs, values, y0, span, colour, widthPx) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = widthPx * dpr;
    ctx.beginPath();
    let drawing = false;
    for (let i = 0; i < fracs.length; i++) {
      const v = values[i];
      if (v === null || !Number.isFinite(v)) { drawing = false; continue; }
      const x = fracs[i] * width;
      const y = y0 - v * span;
      if (drawing && fracs[i] >= fracs[i - 1]) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      drawing = true;
    }
    ctx.stroke();
  };
  if (best) line(best.frac, best.speed_mps, top - 4 * dpr, (top - 8 * dpr) / maxSpeed, "#b0b8c4", 1.5);
  line(lap.frac, lap.speed_mps, top - 4 * dpr, (top - 8 * dpr) / maxSpeed, "#4db3ff", 2);
  const lane = (height - top) / 2;
  line(lap.frac, lap.throttle, top + lane - 3 * dpr, lane - 6 * dpr, "#3ecf6a", 1.5);
  line(lap.frac, lap.brake, height - 3 * dpr, lane - 6 * dpr, "#ff4d4d", 1.5);
  const last = lap.frac.length ? lap.frac[lap.frac.length - 1] : null;
  if (last !== null) {
    ctx.strokeStyle = "#ffb000";
    ctx.lineWidth = 1 * dpr;
    ctx.beginPath();
    ctx.moveTo(last * width, 0);
    ctx.lineTo(last * width, height);
    ctx.stroke();
  }
}
